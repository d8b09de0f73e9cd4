"""The concept diagrams of the chapters: drawn here, by our own code, into the notebooks.

A *figure cell* is a markdown cell of a solution notebook whose metadata names a figure,
`"course": {"figure": "ch01_broadcasting"}`. Its prose (what the figure shows, what to look at)
is written in the notebook like any other; its one image is
`![description](data:image/png;base64,...)`, and `./course build` puts into that image the PNG
the function of the same name below draws. The picture thus travels inside the notebook: the
site shows it, and so do the student edition a student downloads and the folder
`./course release` makes, and nothing is executed for it (the chapter's stored outputs and
their inputs hash stay as they are). tests/test_figures.py fails when a cell holds another
picture than the one drawn now, or a figure has no cell.

Figures that show what minimx does (the Block tree's names, LeNet's shapes) ask the minimx
package this checkout exports, in a fresh Python process (block names count per process).
Every text is at least MIN_FONT points; the PNGs carry no date or version, so drawing twice
gives the same bytes.
"""
import base64
import io
import json
import os
import re
import subprocess
import sys
from functools import lru_cache

import nbformat

from core.chapters import ROOT

MIN_FONT = 10           # points; every text of every figure (checked when drawn)
FONT = 12               # the usual size
DPI = 120               # a 8-inch figure is 960 pixels wide: sharp at the site's text width
IMAGE = re.compile(r'(!\[[^\]]*\]\()data:image/png;base64,[A-Za-z0-9+/=]*(\))')

# colours, one meaning each across the course
DATA, KERNEL, RESULT, GRAD, DROPPED, EDGE, FAINT = '#cfe2f3', '#fce5cd', '#d9ead3', '#c0392b', '#d9d9d9', '#333333', '#f3f3f3'
HILITE = ('#e69138', '#3d85c6', '#6aa84f', '#a64d79')


# -- drawing helpers (coordinates are inches from the bottom left of the figure) ---------------

def canvas(width, height, bottom=0.0):
    """A figure of width x height inches whose one axes is in inches, y running from `bottom`."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=DPI)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, width)
    ax.set_ylim(bottom, bottom + height)
    ax.set_aspect('equal')
    ax.axis('off')
    return fig, ax


def text(ax, x, y, s, size=FONT, **kw):
    kw.setdefault('ha', 'center')
    kw.setdefault('va', 'center')
    return ax.text(x, y, s, fontsize=size, **kw)


def rect(ax, x, y, w, h, fc='white', ec=EDGE, lw=1.0, **kw):
    from matplotlib.patches import Rectangle
    ax.add_patch(Rectangle((x, y), w, h, facecolor=fc, edgecolor=ec, linewidth=lw, **kw))


def box(ax, x, y, w, h, label, fc='white', size=FONT, ec=EDGE, lw=1.0, rounded=True, **kw):
    """A box with its bottom left at (x, y) and `label` in its middle."""
    from matplotlib.patches import FancyBboxPatch
    style = 'round,pad=0,rounding_size=0.08' if rounded else 'square,pad=0'
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=style, facecolor=fc, edgecolor=ec, linewidth=lw))
    text(ax, x + w / 2, y + h / 2, label, size=size, **kw)


def arrow(ax, start, end, color=EDGE, lw=1.3, label=None, size=FONT, offset=(0, 0.15), style='-|>', **kw):
    from matplotlib.patches import FancyArrowPatch
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=14, color=color,
                                 linewidth=lw, shrinkA=2, shrinkB=2, **kw))
    if label:
        text(ax, (start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1], label,
             size=size, color=color)


def grid(ax, x, y, values, cell=0.42, fill=DATA, fills=None, fmt='{:g}', size=FONT, color=EDGE):
    """A matrix of numbers, its top left corner at (x, y); `fills[(i, j)]` colours one cell.
    Returns the function giving the bottom left corner of cell (i, j)."""
    fills = fills or {}
    rows = len(values)
    for i in range(rows):
        for j, v in enumerate(values[i]):
            cx, cy = x + j * cell, y - (i + 1) * cell
            rect(ax, cx, cy, cell, cell, fc=fills.get((i, j), fill))
            if v is not None:
                text(ax, cx + cell / 2, cy + cell / 2, v if isinstance(v, str) else fmt.format(v),
                     size=size, color=color)
    return lambda i, j: (x + j * cell, y - (i + 1) * cell)


def outline(ax, x, y, w, h, color, lw=2.6, ls='-'):
    from matplotlib.patches import Rectangle
    ax.add_patch(Rectangle((x, y), w, h, facecolor='none', edgecolor=color, linewidth=lw, linestyle=ls))


def png(fig):
    """The figure's PNG bytes, after checking that no text is smaller than MIN_FONT."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text
    small = [t.get_text() for t in fig.findobj(Text) if t.get_text() and t.get_fontsize() < MIN_FONT]
    if small:
        raise ValueError(f'texts below {MIN_FONT} pt: {small[:5]}')
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=DPI, metadata={'Software': None})
    return buffer.getvalue()


# -- what minimx says (for the figures that show its names and shapes) -----------------------

MINIMX_FACTS = r'''
import json
from minimx import nd, init
from minimx.gluon import nn

class MLP(nn.Block):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.hidden = nn.Dense(64, activation='relu')
            self.output = nn.Dense(10)
    def forward(self, x):
        return self.output(self.hidden(x))

def tree(block, key):
    return {'key': key, 'cls': type(block).__name__, 'prefix': block.prefix,
            'params': [(name, list(p.shape)) for name, p in block.params.items()],
            'children': [tree(child, k) for k, child in block._children.items()]}

from minimx.gluon import block as _block
facts = {}
net = nn.Sequential()
net.add(MLP(), nn.Dense(10))
net.initialize()
net(nd.zeros((2, 20)))
facts['tree'] = tree(net, None)
facts['collected'] = list(net.collect_params().keys())

_block._GLOBAL_COUNTERS.clear()           # names as in a fresh process, for each network
shared_net = nn.Sequential()
shared_net.add(nn.Dense(8, activation='relu'))
shared = nn.Dense(8)
shared_net.add(shared, nn.Dense(8, activation='relu', params=shared.params), nn.Dense(10))
shared_net.initialize()
shared_net(nd.zeros((2, 20)))
facts['shared'] = [(child.prefix, [(name, list(p.shape)) for name, p in child.params.items()])
                   for child in shared_net._children.values()]
facts['shared_same'] = shared_net[1].weight is shared_net[2].weight

_block._GLOBAL_COUNTERS.clear()
lenet = nn.Sequential()
lenet.add(nn.Conv2D(6, kernel_size=5, padding=2, activation='relu'), nn.MaxPool2D(pool_size=2, strides=2),
          nn.Conv2D(16, kernel_size=5, activation='relu'), nn.MaxPool2D(pool_size=2, strides=2),
          nn.Dense(120, activation='relu'), nn.Dense(84, activation='relu'), nn.Dense(10))
lenet.initialize(init.Xavier())
x = nd.zeros((1, 1, 28, 28))
layers = []
for child in lenet._children.values():
    x = child(x)
    count = sum(int(__import__('numpy').prod(p.shape)) for p in child.params.values())
    layers.append((type(child).__name__, list(x.shape), count))
facts['lenet'] = layers
print(json.dumps(facts))
'''


@lru_cache(maxsize=None)
def minimx_facts():
    """Names and shapes from this checkout's minimx, asked in a fresh process."""
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['PYTHONPATH'] = str(ROOT)
    result = subprocess.run([sys.executable, '-c', MINIMX_FACTS], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f'error: the figures could not ask minimx for names and shapes:\n{result.stderr[-3000:]}')
    return json.loads(result.stdout)


# -- the figures ---------------------------------------------------------------------------------

def ch01_broadcasting():
    fig, ax = canvas(9.8, 3.55, bottom=0.8)
    text(ax, 4.9, 4.05, 'x of shape (3, 1)  +  y of shape (1, 4)  →  z of shape (3, 4)', size=13, weight='bold')
    c = 0.42
    col, row = [0, 10, 20], [0, 1, 2, 3]
    # x stretched along axis 1
    top = 3.55
    grid(ax, 0.3, top, [[v, v, v, v] for v in col], fill=FAINT, color='#999999')
    grid(ax, 0.3, top, [[v] for v in col], fill=DATA)
    text(ax, 0.3 + 2 * c, top - 3 * c - 0.25, 'x: its one column\nread 4 times (stride 0)', size=11)
    text(ax, 2.25, top - 1.5 * c, '+', size=18)
    grid(ax, 2.55, top, [row, row, row], fill=FAINT, color='#999999')
    grid(ax, 2.55, top, [row], fill=KERNEL)
    text(ax, 2.55 + 2 * c, top - 3 * c - 0.25, 'y: its one row\nread 3 times (stride 0)', size=11)
    text(ax, 4.5, top - 1.5 * c, '=', size=18)
    grid(ax, 4.8, top, [[a + b for b in row] for a in col], fill=RESULT)
    text(ax, 4.8 + 2 * c, top - 3 * c - 0.25, 'z[i, j] = x[i, 0] + y[0, j]', size=11)
    # the rule on shapes
    x0, y0 = 7.55, 3.45
    text(ax, 8.45, y0 + 0.1, 'the rule on shapes', size=12, weight='bold')
    rows = [('a', ['2', '1', '4']), ('b', ['1', '3', '1']), ('result', ['2', '3', '4'])]
    for k, (label, dims) in enumerate(rows):
        yy = y0 - 0.55 - 0.5 * k
        text(ax, x0 + 0.1, yy, label, size=11, ha='right')
        for j, d in enumerate(dims):
            padded = label == 'b' and j == 0
            fc = RESULT if label == 'result' else (FAINT if padded else DATA)
            box(ax, x0 + 0.25 + 0.5 * j, yy - 0.2, 0.42, 0.4, d, fc=fc, size=12, rounded=False,
                color='#888888' if padded else EDGE)
    text(ax, 8.4, y0 - 2.0, 'line up from the right, pad\nwith 1s (grey); in each place\n'
         'equal sizes, or one is 1', size=10.5, va='top')
    return fig


def ch02_tape():
    fig, ax = canvas(9.4, 5.0)
    nodes = {'a': (1.0, 2.6), 'b': (1.0, 4.0), 'c': (1.0, 1.2), 'p': (4.3, 3.3), 'q': (4.3, 1.9), 'd': (7.6, 2.6)}
    values = {'a': 'a = 2', 'b': 'b = 3', 'c': 'c = 4', 'p': 'p = a·b = 6', 'q': 'q = a·c = 8', 'd': 'd = p + q = 14'}
    adjoint = {'a': r'$\bar a = b\,\bar p + c\,\bar q = 7$', 'b': r'$\bar b = a\,\bar p = 2$',
               'c': r'$\bar c = a\,\bar q = 2$', 'p': r'$\bar p = \bar d \cdot 1 = 1$',
               'q': r'$\bar q = \bar d \cdot 1 = 1$', 'd': r'$\bar d = 1$'}
    widths = {'a': 1.2, 'b': 1.2, 'c': 1.2, 'p': 1.9, 'q': 1.9, 'd': 2.1}
    edges = [('b', 'p'), ('a', 'p'), ('a', 'q'), ('c', 'q'), ('p', 'd'), ('q', 'd')]
    for n, (x, y) in nodes.items():
        w = widths[n]
        box(ax, x - w / 2, y - 0.25, w, 0.5, values[n], fc=DATA if n in 'abc' else RESULT, size=13.5)
        text(ax, x, y - 0.47, adjoint[n], size=13.5, color=GRAD, va='top')
    for u, v in edges:
        (x0, y0), (x1, y1) = nodes[u], nodes[v]
        start = (x0 + widths[u] / 2, y0 + 0.1)
        end = (x1 - widths[v] / 2, y1 + 0.1 + (y0 - y1) * 0.12)
        arrow(ax, start, end, color='#444444')
        back_start = (end[0], end[1] - 0.22)
        back_end = (start[0], start[1] - 0.22)
        arrow(ax, back_start, back_end, color=GRAD, lw=1.1, linestyle='--')
    text(ax, 4.7, 4.75, 'forward (black): the tape records p, q and d, each node keeping its inputs',
         size=13)
    text(ax, 4.7, 0.25, 'backward (red, dashed): each node passes its adjoint back, times the local derivative;\n'
         'a is used twice, so its adjoint is the sum of what comes back along both paths', size=13,
         color=GRAD)
    return fig


def ch03_minibatch():
    fig, ax = canvas(9.6, 4.9)
    n, batch = 12, 4
    order = [7, 2, 10, 0, 5, 11, 3, 8, 1, 9, 6, 4]      # one shuffle of range(12)
    top, h = 4.25, 0.27
    chosen = order[:batch]
    text(ax, 1.15, 4.62, 'the data set', size=12, weight='bold')
    for i in range(n):
        y = top - (i + 1) * h
        rect(ax, 0.45, y, 1.4, h, fc=HILITE[0] if i in chosen else DATA, lw=0.8)
        text(ax, 0.33, y + h / 2, str(i), size=10, ha='right')
    text(ax, 1.15, top - n * h - 0.22, 'row i: (x₁, x₂) and y', size=10.5)
    # the shuffled indices
    ix, iw = 2.35, 0.22
    text(ax, ix, 4.62, 'indices, shuffled once per epoch', size=12, weight='bold', ha='left')
    for k, idx in enumerate(order):
        x = ix + k * iw
        rect(ax, x, 3.9, iw, 0.38, fc=HILITE[0] if k < batch else FAINT, lw=0.8)
        text(ax, x + iw / 2, 4.09, str(idx), size=10)
    for k in range(0, n + 1, batch):
        ax.plot([ix + k * iw] * 2, [3.82, 4.36], color=EDGE, lw=2.0)
    text(ax, ix + batch * iw / 2, 3.65, 'batch 1: j', size=10.5)
    text(ax, ix + 1.5 * batch * iw, 3.65, 'batch 2', size=10.5)
    text(ax, ix + 2.5 * batch * iw, 3.65, 'batch 3', size=10.5)
    # take: the rows of the batch
    bx, by = 2.85, 3.0
    text(ax, bx + 0.7, by + 0.2, 'features.take(j)', size=11)
    for k, idx in enumerate(chosen):
        rect(ax, bx, by - (k + 1) * h, 1.4, h, fc=HILITE[0], lw=0.8)
        text(ax, bx - 0.08, by - (k + 0.5) * h, str(idx), size=10, ha='right')
        arrow(ax, (1.85, top - (idx + 0.5) * h), (bx - 0.3, by - (k + 0.5) * h), color='#b45f06', lw=0.9)
    text(ax, bx + 0.7, by - batch * h - 0.22, 'X: a (4, 2) minibatch', size=10.5)
    # one SGD step
    steps = [('ŷ = X w + b', DATA), ('ℓ = ½ (ŷ − y)², one per row', DATA),
             ('ℓ.sum().backward() → w.grad, b.grad', KERNEL), ('w ← w − η · w.grad / |B|  (b too)', RESULT)]
    sx, sw = 5.35, 4.05
    text(ax, sx + sw / 2, 4.62, 'one SGD step per minibatch', size=12, weight='bold')
    for k, (label, fc) in enumerate(steps):
        y = 3.7 - k * 0.85
        box(ax, sx, y, sw, 0.55, label, fc=fc, size=11.5)
        if k < 3:
            arrow(ax, (sx + sw / 2, y), (sx + sw / 2, y - 0.3))
    arrow(ax, (bx + 1.45, by - batch * h / 2), (sx - 0.05, 3.95))
    text(ax, 4.8, 0.2, 'Drawn with n = 12 and |B| = 4 (the chapter: n = 1000, |B| = 10). '
         'An epoch is n / |B| = 3 steps here; every row is used once.', size=10.5)
    return fig


def ch04_softmax():
    import numpy as np
    fig = None
    from matplotlib.figure import Figure
    fig = Figure(figsize=(10, 3.9), dpi=DPI)
    classes = ['T-shirt', 'trouser', 'pullover', 'dress']
    o = np.array([1.0, -1.0, 2.0, 0.5])
    e = np.exp(o)
    p = e / e.sum()
    y = 2
    panels = [(o, 'scores o (logits)', '{:+.1f}', DATA),
              (e, 'exp(o): positive', '{:.2f}', KERNEL),
              (p, 'exp(o) / Σ exp(o): sum 1', '{:.2f}', RESULT)]
    for k, (vals, title, fmt, colour) in enumerate(panels):
        ax = fig.add_axes([0.05 + k * 0.25, 0.22, 0.2, 0.6])
        colours = [colour] * 4
        ax.bar(range(4), vals, color=colours, edgecolor=EDGE)
        if k == 2:
            ax.bar([y], [vals[y]], color=HILITE[0], edgecolor=EDGE)
        ax.axhline(0, color=EDGE, lw=0.8)
        ax.set_title(title, fontsize=12)
        ax.set_xticks(range(4))
        ax.set_xticklabels(classes, rotation=30, fontsize=10.5)
        ax.tick_params(axis='y', labelsize=10)
        top = max(vals.max(), 0) * 1.25 + 0.1
        ax.set_ylim(min(vals.min() * 1.3, 0), top)
        for i, v in enumerate(vals):
            ax.text(i, v + (0.03 * top if v >= 0 else -0.03 * top), fmt.format(v), ha='center',
                    va='bottom' if v >= 0 else 'top', fontsize=10.5)
        for side in ('top', 'right'):
            ax.spines[side].set_visible(False)
    over = fig.add_axes([0, 0, 1, 1])
    over.set_xlim(0, 10)
    over.set_ylim(0, 3.9)
    over.axis('off')
    for k in range(2):
        arrow(over, (2.52 + 2.5 * k, 2.1), (2.98 + 2.5 * k, 2.1))
    arrow(over, (7.5 + 0.02, 2.1), (7.95, 2.1))
    box(over, 7.95, 1.25, 1.95, 1.75, f'true class y = {classes[y]}\n\n' + r'loss $= -\log\, \hat y_y$' + f'\n= −log {p[y]:.2f}\n= {-np.log(p[y]):.2f}',
        fc=FAINT, size=11.5)
    text(over, 5.0, 0.2, 'Cross-entropy reads one bar: the probability of the true class (orange). '
         'The other probabilities matter only through the sum.', size=11)
    return fig


def ch05_mlp():
    fig, ax = canvas(9.6, 4.9)
    layers = [(1.3, 'input x\n784 pixels', 7, DATA, '784'), (4.8, 'hidden h = relu(x W₁ + b₁)\n256 units', 6, KERNEL, '256'),
              (8.3, 'scores o = h W₂ + b₂\n10 classes', 5, RESULT, '10')]
    spots = []
    for x, label, count, fc, total in layers:
        ys = [0.95 + i * (3.1 / (count - 1)) for i in range(count)]
        ys = ys[:count // 2] + [None] + ys[count // 2 + 1:] if count > 5 else ys
        spots.append((x, [y for y in ys if y is not None]))
        text(ax, x, 4.55, label, size=11.5)
        for y in ys:
            if y is None:
                continue
            from matplotlib.patches import Circle
            ax.add_patch(Circle((x, y), 0.17, facecolor=fc, edgecolor=EDGE, lw=1))
        if count > 5:
            text(ax, x, 0.95 + (count // 2) * (3.1 / (count - 1)), '⋮', size=16)
        text(ax, x, 0.5, f'{total} numbers per example', size=10.5)
    for (x0, ys0), (x1, ys1) in zip(spots, spots[1:]):
        for a in ys0:
            for b in ys1:
                ax.plot([x0 + 0.17, x1 - 0.17], [a, b], color='#999999', lw=0.6, zorder=0)
    text(ax, 3.05, 2.55, 'W₁: 784 × 256\nb₁: 256', size=11, bbox=dict(fc='white', ec='none'))
    text(ax, 6.55, 2.55, 'W₂: 256 × 10\nb₂: 10', size=11, bbox=dict(fc='white', ec='none'))
    text(ax, 4.8, 0.15, 'each hidden unit: relu(z) = max(z, 0)', size=10.5)
    return fig


def ch06_dropout():
    import numpy as np
    fig, ax = canvas(9.4, 4.3)
    p = 0.5
    h = np.array([0.8, 1.6, 0.4, 2.0, 1.2, 0.6, 1.0, 1.4])
    u = np.random.default_rng(7).uniform(size=h.size).round(2)
    mask = u < 1 - p
    out = np.where(mask, h / (1 - p), 0)
    cell, x0 = 0.62, 2.7
    rows = [('hidden units h', [f'{v:.1f}' for v in h], {}),
            ('uniform draws u', [f'{v:.2f}' for v in u], {}),
            ('mask = u < 1 − p', ['1' if m else '0' for m in mask], {(0, j): DROPPED for j in range(8) if not mask[j]}),
            ('h · mask / (1 − p)', [f'{v:.1f}' if m else '0' for v, m in zip(out, mask)],
             {(0, j): (RESULT if mask[j] else DROPPED) for j in range(8)})]
    fills = [DATA, FAINT, KERNEL, RESULT]
    for k, (label, vals, special) in enumerate(rows):
        top = 4.0 - k * 0.8
        grid(ax, x0, top, [vals], cell=cell, fill=fills[k], fills=special, size=11.5)
        text(ax, x0 - 0.15, top - cell / 2, label, size=11.5, ha='right')
    for j in range(8):
        if not mask[j]:
            cx = x0 + j * cell
            for top in (4.0 - 2 * 0.8, 4.0 - 3 * 0.8):
                ax.plot([cx + 0.06, cx + cell - 0.06], [top - cell + 0.06, top - 0.06], color=GRAD, lw=1.5)
    text(ax, x0 + 2.2 * cell, 0.35, f'p = {p}: each unit is dropped with probability p; the survivors are '
         f'multiplied by 1/(1 − p) = {1 / (1 - p):g},\nso the expected value of every unit stays h '
         f'(here {int(mask.sum())} of 8 survive; another draw drops others)', size=11)
    return fig


def ch07_block_tree():
    facts = minimx_facts()
    fig, ax = canvas(10.6, 5.0)

    def label(node):
        key = '' if node['key'] is None else f"'{node['key']}' → " if node['key'].isdigit() else f"{node['key']} → "
        return f"{key}{node['cls']}", f"prefix {node['prefix']}"

    def params(node):
        return '\n'.join(f'{name}  {tuple(shape)}' for name, shape in node['params'])

    root = facts['tree']
    box(ax, 4.2, 4.2, 2.8, 0.62, '', fc=FAINT)
    title, prefix = label(root)
    text(ax, 5.6, 4.62, title, size=12, weight='bold')
    text(ax, 5.6, 4.38, prefix, size=11, family='monospace')
    spots = {0: 3.4, 1: 8.6}
    for i, child in enumerate(root['children']):
        cx = spots[i]
        w = 3.2 if child['children'] else 3.6
        box(ax, cx - w / 2, 3.05, w, 0.62, '', fc=DATA if child['children'] else KERNEL)
        title, prefix = label(child)
        text(ax, cx, 3.47, title, size=12, weight='bold')
        text(ax, cx, 3.23, prefix, size=11, family='monospace')
        arrow(ax, (5.6 + (i - 0.5) * 1.2, 4.2), (cx, 3.67))
        if child['params']:
            text(ax, cx, 2.6, 'params:\n' + params(child), size=11, family='monospace', va='top')
        for k, grandchild in enumerate(child['children']):
            gx = cx + (k - 0.5) * 3.3
            box(ax, gx - 1.55, 1.7, 3.1, 0.62, '', fc=KERNEL)
            title, prefix = label(grandchild)
            text(ax, gx, 2.12, title, size=12, weight='bold')
            text(ax, gx, 1.88, prefix, size=11, family='monospace')
            arrow(ax, (cx + (k - 0.5) * 1.2, 3.05), (gx, 2.32))
            text(ax, gx, 1.55, params(grandchild), size=11, family='monospace', va='top')
    text(ax, 5.3, 0.45, 'net.collect_params() walks the tree in order: ' + ', '.join(facts['collected'][:2]) +
         ', …, ' + facts['collected'][-1], size=11)
    text(ax, 5.3, 0.12, 'Children made inside a block\'s name_scope() get its prefix in front of theirs; '
         'the others count per class (dense0_).', size=11)
    return fig


def ch08_sharing():
    facts = minimx_facts()
    fig, ax = canvas(9.8, 4.3)
    layers = facts['shared']
    xs = [0.25 + k * 2.45 for k in range(4)]
    names = ['Dense(8, relu)', 'shared = Dense(8)', 'Dense(8, relu,\nparams=shared.params)', 'Dense(10)']
    for k, (x, (prefix, params)) in enumerate(zip(xs, layers)):
        box(ax, x, 3.0, 2.0, 0.9, f'net[{k}]\n{names[k]}', fc=KERNEL if k in (1, 2) else DATA, size=11)
        if k < 3:
            arrow(ax, (x + 2.0, 3.45), (x + 2.45, 3.45))
        if k in (0, 3):
            text(ax, x + 1.0, 2.55, '\n'.join(f'{n} {tuple(s)}' for n, s in params), size=10.5,
                 family='monospace', va='top')
    weight = [(n, s) for n, s in layers[1][1] if n.endswith('weight')][0]
    box(ax, 2.8, 1.15, 4.3, 0.75, f'one Parameter: {weight[0]} {tuple(weight[1])}\n(and its bias)', fc=HILITE[0] + '55',
        size=11.5)
    for k in (1, 2):
        arrow(ax, (xs[k] + 1.0, 3.0), (4.95 + (k - 1.5) * 1.6, 1.9), color='#b45f06', style='<|-|>')
    text(ax, 4.95, 0.55, 'backward adds both uses into its one gradient buffer:  '
         'grad = ∂L/∂W (use in net[1]) + ∂L/∂W (use in net[2])', size=11, color=GRAD)
    text(ax, 4.95, 0.15, f"net[1].weight is net[2].weight → {facts['shared_same']}", size=11, family='monospace')
    return fig


def ch09_corr2d():
    fig, ax = canvas(9.0, 3.2)
    X = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    K = [[0, 1], [2, 3]]
    Y = [[19, 25], [37, 43]]
    c = 0.55
    text(ax, 0.3 + 1.5 * c, 2.95, 'input X (3 × 3)', size=12)
    corner = grid(ax, 0.3, 2.7, X, cell=c)
    x, y = corner(1, 0)
    outline(ax, x, y, 2 * c, 2 * c, HILITE[0])
    text(ax, 2.35, 1.9, '⋆', size=20)
    text(ax, 2.75 + c, 2.95, 'kernel K (2 × 2)', size=12)
    grid(ax, 2.75, 2.45, K, cell=c, fill=KERNEL)
    text(ax, 4.2, 1.9, '=', size=20)
    text(ax, 4.55 + c, 2.95, 'output Y (2 × 2)', size=12)
    corner = grid(ax, 4.55, 2.45, Y, cell=c, fill=RESULT, fills={(0, 0): HILITE[0]})
    text(ax, 5.95, 2.1, 'Y[0, 0] = 0·0 + 1·1\n           + 3·2 + 4·3 = 19', size=11.5, ha='left')
    text(ax, 5.95, 1.3, 'Slide the window one step\nright (or down) for the next\noutput: 3 − 2 + 1 = 2 positions\n'
         'fit along each axis', size=11, ha='left')
    text(ax, 4.5, 0.35, 'The orange window of X is multiplied elementwise by K and summed into the orange output.',
         size=11)
    return fig


def ch09_padding_stride():
    fig, ax = canvas(9.6, 4.6)
    n, p, k, s = 5, 1, 3, 2
    out = (n + 2 * p - k) // s + 1
    c = 0.42
    size = n + 2 * p
    values = [['0' if (i < p or j < p or i >= n + p or j >= n + p) else '' for j in range(size)] for i in range(size)]
    fills = {(i, j): (FAINT if values[i][j] == '0' else DATA) for i in range(size) for j in range(size)}
    top = 4.05
    text(ax, 0.3 + size * c / 2, top + 0.25, f'input {n} × {n}, padded by p = {p} (zeros)', size=11.5)
    corner = grid(ax, 0.3, top, values, cell=c, fills=fills, size=10, color='#999999')
    for t, (oi, oj) in enumerate([(0, 0), (0, 1), (0, 2)]):
        x, y = corner(oi * s + k - 1, oj * s)
        outline(ax, x + 0.03 * t, y + 0.03 * t, k * c - 0.06 * t, k * c - 0.06 * t, HILITE[t], lw=2.6)
    text(ax, 0.3 + size * c / 2, top - size * c - 0.35,
         f'a {k} × {k} window at stride s = {s}:\ncolumns 0, 2, 4 of the padded input', size=11)
    ox, oy = 4.25, 3.3
    text(ax, ox + out * c / 2 + 0.05, top + 0.25, f'output {out} × {out}', size=11.5)
    grid(ax, ox, oy, [[''] * out for _ in range(out)], cell=c + 0.05, fill=RESULT,
         fills={(0, t): HILITE[t] for t in range(3)})
    arrow(ax, (0.3 + size * c + 0.1, 3.2), (ox - 0.1, 3.2))
    fx = 7.6
    text(ax, fx, 3.2, r'$n_{out} = \left\lfloor \frac{n + 2p - k}{s} \right\rfloor + 1$', size=15)
    text(ax, fx, 2.35, f'= ⌊({n} + 2·{p} − {k}) / {s}⌋ + 1 = {out}', size=12)
    text(ax, fx, 1.45, 'padding adds 2p to every axis;\nthe stride counts the positions\nof the window, '
         'it does not round', size=11)
    return fig


def ch09_im2col():
    fig, ax = canvas(10.4, 4.6)
    X = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    kernels = [[[0, 1], [2, 3]], [[1, 0], [0, -1]]]
    c = 0.45
    top = 4.15
    text(ax, 0.3 + 1.5 * c, top + 0.22, 'x: N = C = 1, 3 × 3', size=11.5)
    corner = grid(ax, 0.3, top, X, cell=c)
    windows = [(0, 0), (0, 1), (1, 0), (1, 1)]
    for t, (i, j) in enumerate(windows):
        x, y = corner(i + 1, j)
        d = 0.04 * t
        outline(ax, x + d, y + d, 2 * c - 2 * d, 2 * c - 2 * d, HILITE[t], lw=2.4)
    text(ax, 0.3 + 1.5 * c, top - 3 * c - 0.3, 'its four 2 × 2 windows', size=11)
    cx = 3.0
    cols = [[X[i + a][j + b] for (i, j) in windows] for a in range(2) for b in range(2)]
    text(ax, cx + 2 * c, top + 0.22, 'cols: (C·kh·kw, N·Hout·Wout) = (4, 4)', size=11.5)
    corner = grid(ax, cx, top, cols, cell=c)
    for t in range(4):
        x, y = corner(3, t)
        outline(ax, x + 0.03, y + 0.03, c - 0.06, 4 * c - 0.06, HILITE[t], lw=2.4)
    text(ax, cx + 2 * c, top - 4 * c - 0.25, 'window t becomes column t', size=11)
    arrow(ax, (0.3 + 3 * c + 0.1, top - 1.5 * c), (cx - 0.1, top - 1.5 * c))
    wx, wy = 2.2, 1.3
    weight = [[v for row in K for v in row] for K in kernels]
    text(ax, wx + 2 * c, wy + 0.22, 'W: a row per kernel, (O, C·kh·kw) = (2, 4)', size=11.5)
    grid(ax, wx, wy, weight, cell=c, fill=KERNEL)
    text(ax, wx + 4 * c + 0.2, wy - c, '×  cols  =', size=13, ha='left')
    out = [[sum(w * col[t] for w, col in zip(wrow, cols)) for t in range(4)] for wrow in weight]
    ox = wx + 4 * c + 1.4
    text(ax, ox + 2 * c + 0.4, wy + 0.22, 'out: (O, N·Hout·Wout) = (2, 4)', size=11.5)
    grid(ax, ox, wy, out, cell=c, fill=RESULT)
    text(ax, ox + 2 * c, wy - 2 * c - 0.25, 'reshape → (N, O, 2, 2)', size=11)
    text(ax, 8.6, 3.3, 'every output is the dot\nproduct of a kernel row\nwith a window column:\n'
         'one matrix product\ncomputes them all', size=11.5)
    return fig


def ch10_pooling():
    fig, ax = canvas(9.0, 3.6)
    X = [[1, 3, 2, 0], [5, 4, 1, 2], [0, 2, 6, 1], [3, 1, 4, 8]]
    c = 0.5
    top = 3.05
    text(ax, 0.3 + 2 * c, top + 0.25, 'input 4 × 4', size=12)
    fills = {(i, j): HILITE[(i // 2) * 2 + j // 2] + '66' for i in range(4) for j in range(4)}
    grid(ax, 0.3, top, X, cell=c, fills=fills)
    mx = [[max(X[2 * i + a][2 * j + b] for a in range(2) for b in range(2)) for j in range(2)] for i in range(2)]
    av = [[sum(X[2 * i + a][2 * j + b] for a in range(2) for b in range(2)) / 4 for j in range(2)] for i in range(2)]
    ofills = {(i, j): HILITE[i * 2 + j] + '66' for i in range(2) for j in range(2)}
    arrow(ax, (2.45, 2.2), (3.35, 2.55), label='max', offset=(0, 0.22))
    text(ax, 3.45 + c, top + 0.25, 'max pooling', size=12)
    grid(ax, 3.45, top, mx, cell=c, fills=ofills)
    arrow(ax, (2.45, 1.5), (3.35, 1.05), label='mean', offset=(0, -0.3))
    text(ax, 3.45 + c, 1.75, 'average pooling', size=12)
    grid(ax, 3.45, 1.5, av, cell=c, fills=ofills, fmt='{:g}')
    text(ax, 6.9, 1.9, '2 × 2 windows, stride 2:\neach coloured window of the\ninput gives one output;\n'
         'the windows do not overlap,\nso height and width halve.\nNothing is learned.', size=11.5)
    return fig


def ch10_lenet():
    facts = minimx_facts()
    fig, ax = canvas(10.0, 3.9, bottom=0.1)
    labels = {'Conv2D': ['conv 6\n5×5, pad 2\nrelu', 'conv 16\n5×5\nrelu'],
              'MaxPool2D': ['max pool\n2×2\nstride 2', 'max pool\n2×2\nstride 2'],
              'Dense': ['dense\n120, relu\nflattens', 'dense\n84, relu', 'dense\n10']}
    used = {k: 0 for k in labels}
    stages = [('input', [1, 1, 28, 28], 0)] + [tuple(layer) for layer in facts['lenet']]
    x, base, depth, gap = 0.15, 1.75, 0.05, 0.2
    for k, (cls, shape, count) in enumerate(stages):
        if len(shape) == 4:
            chans, hw = shape[1], shape[3]
            side = 0.2 + 0.75 * hw / 28
            layers = min(chans, 6)
            width = side + (layers - 1) * depth
            slot = max(width, 1.0)
            left = x + (slot - width) / 2
            for d in range(layers - 1, -1, -1):
                rect(ax, left + d * depth, base + d * depth, side, side, lw=0.8,
                     fc=DATA if cls in ('input', 'MaxPool2D') else KERNEL)
            shown = '×'.join(str(v) for v in shape[1:])
        else:
            units = shape[-1]
            slot = 1.0
            rect(ax, x + 0.375, base, 0.25, 0.25 + 0.9 * units / 120, fc=RESULT, lw=0.8)
            shown = str(units)
        centre = x + slot / 2
        name = 'input\none image' if cls == 'input' else labels[cls][used[cls]]
        if cls != 'input':
            used[cls] += 1
        text(ax, centre, base - 0.25, shown, size=12.5, weight='bold')
        text(ax, centre, base - 0.5, name, size=12.5, va='top')
        if count:
            text(ax, centre, 3.35, f'{count:,}'.replace(',', ' '), size=12.5, color='#555555')
        x += slot + gap
        if k < len(stages) - 1:
            arrow(ax, (x - gap - 0.02, base + 0.3), (x + 0.02, base + 0.3))
    total = sum(count for _, _, count in facts['lenet'])
    text(ax, 5.0, 3.75, f'learned parameters per layer (total {total:,})'.replace(',', ' '), size=12.5, color='#555555')
    return fig


def ch11_pipeline():
    fig, ax = canvas(10.0, 4.7)
    # what one example is: the dataset and its transform
    text(ax, 2.9, 4.45, 'what one example is', size=12.5, weight='bold')
    box(ax, 0.2, 3.2, 2.5, 0.95, 'FashionMNIST\ndataset[i] = (image, label)', fc=DATA, size=11.5)
    text(ax, 1.45, 2.98, '(28, 28, 1) uint8, int32', size=10.5)
    box(ax, 3.25, 3.2, 2.65, 0.95, '.transform_first(ToTensor())\napplied when i is read', fc=KERNEL, size=11.5)
    text(ax, 4.57, 2.98, '(1, 28, 28) float32 in [0, 1]', size=10.5)
    arrow(ax, (2.7, 3.68), (3.25, 3.68))
    # which examples go together: sampler and batch sampler
    text(ax, 2.9, 2.5, 'which examples go together', size=12.5, weight='bold')
    order = [7, 2, 9, 0, 5, 3, 8, 1, 6, 4]                   # one shuffle of range(10)
    batch, cw, x0, y0 = 4, 0.3, 0.3, 1.45
    text(ax, x0, 2.06, 'RandomSampler(10): a new order each epoch', size=10.5, ha='left')
    for k, idx in enumerate(order):
        rect(ax, x0 + k * cw, y0, cw, 0.36, fc=HILITE[k // batch] if k < 8 else FAINT, lw=0.8, alpha=0.55)
        text(ax, x0 + (k + 0.5) * cw, y0 + 0.18, str(idx), size=10.5)
    for k in range(0, len(order) + 1, batch):
        ax.plot([x0 + k * cw] * 2, [y0 - 0.06, y0 + 0.42], color=EDGE, lw=2.0)
    text(ax, x0, 1.12, 'BatchSampler(batch_size=4) cuts it into\n[7 2 9 0] [5 3 8 1] [6 4]', size=10.5,
         ha='left', va='top')
    rows = [("last_batch='keep'", 'yield [6 4]'),
            ("'discard'", 'drop [6 4]'),
            ("'rollover'", '[6 4] opens next epoch')]
    for k, (kind, what) in enumerate(rows):
        text(ax, 3.75, 1.85 - k * 0.36, kind, size=10.5, ha='left', family='monospace')
        text(ax, 5.55, 1.85 - k * 0.36, what, size=10.5, ha='left')
    arrow(ax, (x0 + len(order) * cw + 0.05, y0 + 0.18), (3.7, 1.55))
    # the arrays: batchify
    text(ax, 8.57, 4.45, 'the arrays', size=12.5, weight='bold')
    box(ax, 7.3, 2.45, 2.55, 1.3, 'batchify_fn([dataset[i]\n  for i in batch])\nstacks each field', fc=RESULT, size=11.5)
    arrow(ax, (5.9, 3.68), (7.3, 3.4), label='examples', size=10.5, offset=(0, 0.22))
    arrow(ax, (6.45, 2.1), (7.3, 2.75), label='indices', size=10.5, offset=(-0.3, 0.2))
    box(ax, 7.3, 0.6, 2.55, 0.85, 'X: (4, 1, 28, 28) float32\ny: (4,) int32', fc=DATA, size=11.5)
    arrow(ax, (9.3, 2.45), (9.3, 1.45), label='a batch', size=10.5, offset=(-0.55, 0))
    text(ax, 5.0, 0.22, 'Drawn with 10 examples in batches of 4 (Fashion-MNIST: 60 000 in batches of 256). '
         'for X, y in DataLoader(...) runs it all.', size=10.5)
    return fig


def ch12_trajectories():
    from matplotlib.figure import Figure
    import numpy as np

    def run(step, n=20):
        x, s, path = np.array([-5.0, -2.0]), np.zeros(2), [(-5.0, -2.0)]
        for _ in range(n):
            x, s = step(x, s)
            path.append(tuple(x))
        return np.array(path)

    curv, eta = np.array([0.2, 4.0]), 0.4                    # f = 0.1·x1² + 2·x2²: gradient curv·x

    def gd(x, s):
        return x - eta * curv * x, s

    def momentum(x, v):
        v = 0.5 * v + eta * curv * x
        return x - v, v

    def rmsprop(x, s):
        g = curv * x
        s = 0.9 * s + 0.1 * g ** 2
        return x - eta * g / np.sqrt(s + 1e-6), s

    fig = Figure(figsize=(10.0, 3.4), dpi=DPI)
    g1, g2 = np.meshgrid(np.linspace(-5.5, 1.0, 200), np.linspace(-3.0, 2.0, 200))
    panels = (('gradient descent, η = 0.4', gd), ('momentum, γ = 0.5', momentum), ('RMSProp, γ = 0.9', rmsprop))
    for k, (title, step) in enumerate(panels):
        ax = fig.add_axes([0.06 + k * 0.33, 0.16, 0.26, 0.72])
        ax.contour(g1, g2, 0.1 * g1 ** 2 + 2 * g2 ** 2, levels=[0.25, 1, 2.5, 5, 8], colors='#6fa8dc', linewidths=1.0)
        path = run(step)
        ax.plot(path[:, 0], path[:, 1], '-o', color=HILITE[k], markersize=3.5, linewidth=1.4)
        ax.plot([0], [0], marker='*', color=EDGE, markersize=10)
        ax.set_title(title, fontsize=FONT)
        ax.set_xlabel('x1', fontsize=FONT - 1)
        ax.set_ylabel('x2', fontsize=FONT - 1)
        ax.tick_params(labelsize=MIN_FONT)
        ax.set_xlim(-5.5, 1.0)
        ax.set_ylim(-3.0, 2.0)
        end = np.round(path[-1], 2) + 0.0                    # + 0.0: no '-0.00'
        ax.text(-5.3, -2.75, f'after 20 steps: ({end[0]:.2f}, {end[1]:.2f})', fontsize=MIN_FONT, ha='left')
    return fig


def ch13_residual():
    from matplotlib.patches import Circle
    fig, ax = canvas(10.0, 6.0)

    def block(x0, title, shape_in, first, second, shortcut, shape_out):
        cx = x0 + 1.6
        text(ax, cx + 0.6, 5.7, title, size=12.5, weight='bold')
        box(ax, cx - 1.0, 4.85, 2.0, 0.5, shape_in, fc=DATA, size=11.5)
        box(ax, cx - 1.0, 3.95, 2.0, 0.5, first, fc=KERNEL, size=11.5)
        box(ax, cx - 1.0, 3.25, 2.0, 0.45, 'batch norm, ReLU', fc=KERNEL, size=11.5)
        box(ax, cx - 1.0, 2.35, 2.0, 0.5, second, fc=KERNEL, size=11.5)
        box(ax, cx - 1.0, 1.65, 2.0, 0.45, 'batch norm', fc=KERNEL, size=11.5)
        arrow(ax, (cx, 4.85), (cx, 4.45))
        arrow(ax, (cx, 3.95), (cx, 3.7))
        arrow(ax, (cx, 3.25), (cx, 2.85))
        arrow(ax, (cx, 2.35), (cx, 2.1))
        # the sum and the output
        ax.add_patch(Circle((cx, 1.05), 0.22, facecolor='white', edgecolor=EDGE, linewidth=1.2))
        text(ax, cx, 1.05, '+', size=14, weight='bold')
        arrow(ax, (cx, 1.65), (cx, 1.27))
        box(ax, cx - 1.0, 0.05, 2.0, 0.5, 'ReLU → ' + shape_out, fc=RESULT, size=11.5)
        arrow(ax, (cx, 0.83), (cx, 0.55))
        # the shortcut, on the right
        sx = cx + 1.95
        ax.plot([cx + 1.0, sx], [5.1, 5.1], color=HILITE[1], lw=2.0)
        if shortcut:
            ax.plot([sx, sx], [5.1, 3.35], color=HILITE[1], lw=2.0)
            box(ax, sx - 0.7, 2.6, 1.4, 0.75, shortcut, fc=FAINT, size=11, ec=HILITE[1])
            ax.plot([sx, sx], [2.6, 1.05], color=HILITE[1], lw=2.0)
            label = '1 × 1 shortcut'
        else:
            ax.plot([sx, sx], [5.1, 1.05], color=HILITE[1], lw=2.0)
            label = 'identity shortcut: x'
        arrow(ax, (sx, 1.05), (cx + 0.22, 1.05), color=HILITE[1], lw=2.0)
        text(ax, sx + 0.12, 4.55, label, size=11, color=HILITE[1], ha='left' if not shortcut else 'center',
             va='bottom')

    block(0.1, 'same shape: identity shortcut', 'x: 32 × 7 × 7', 'conv 32 @ 3 × 3, pad 1',
          'conv 32 @ 3 × 3, pad 1', None, '32 × 7 × 7')
    block(5.1, 'new shape: 1 × 1 shortcut', 'x: 16 × 14 × 14', 'conv 32 @ 3 × 3, pad 1,\nstride 2',
          'conv 32 @ 3 × 3, pad 1', 'conv 32 @ 1 × 1\nstride 2', '32 × 7 × 7')
    return fig


FIGURES = {f.__name__: f for f in (ch01_broadcasting, ch02_tape, ch03_minibatch, ch04_softmax, ch05_mlp,
                                   ch06_dropout, ch07_block_tree, ch08_sharing, ch09_corr2d, ch09_padding_stride,
                                   ch09_im2col, ch10_pooling, ch10_lenet, ch11_pipeline, ch12_trajectories,
                                   ch13_residual)}


# -- putting them into the notebooks --------------------------------------------------------------

def figure_name(cell):
    return cell.get('metadata', {}).get('course', {}).get('figure') if cell.cell_type == 'markdown' else None


def data_uri(data):
    return 'data:image/png;base64,' + base64.b64encode(data).decode('ascii')


@lru_cache(maxsize=None)
def drawn(name):
    """The PNG bytes of figure `name`, drawn now."""
    return png(FIGURES[name]())


def embedded(cell):
    """The PNG bytes a figure cell holds (None if it holds no image)."""
    found = re.search(r'data:image/png;base64,([A-Za-z0-9+/=]*)\)', cell.source)
    return base64.b64decode(found.group(1)) if found and found.group(1) else None


def with_figure(source, data):
    if len(IMAGE.findall(source)) != 1:
        raise ValueError('a figure cell holds exactly one image ![...](data:image/png;base64,...)')
    return IMAGE.sub(lambda m: m.group(1) + data_uri(data) + m.group(2), source)


def write(chapter_list):
    """Draw every figure into its cell; write a notebook only if it changed. Returns how many
    figure cells the chapters hold."""
    placed = 0
    for ch in chapter_list:
        text_before = ch.source.read_text(encoding='utf-8')
        nb = nbformat.reads(text_before, as_version=4)
        for cell in nb.cells:
            name = figure_name(cell)
            if name is None:
                continue
            if name not in FIGURES:
                raise SystemExit(f'error: {ch.source.name}: cell {cell.id} names the figure {name!r}, '
                                 f'which pipeline/figures.py does not draw')
            cell.source = with_figure(cell.source, drawn(name))
            placed += 1
        text_after = nbformat.writes(nb) + '\n'
        if text_after != text_before:
            ch.source.write_text(text_after, encoding='utf-8')
    return placed
