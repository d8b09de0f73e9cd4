/* Search-result excerpts from the text of the page, not from its navigation.
 *
 * Sphinx's search (searchtools.js, Sphinx 7.4) shows under each hit an excerpt of the page it
 * fetched, taken from the element with role="main". In pydata-sphinx-theme that element also
 * holds the article header, with the page's table of contents, so the excerpt of a chapter was
 * its title and section headings. Here the excerpt comes from the article alone, without its
 * title (the hit's link shows the title already) and without the chapter's download box.
 * Loaded on every page (html_js_files); it only acts where Sphinx's search is loaded.
 */
document.addEventListener('DOMContentLoaded', () => {
  if (typeof Search === 'undefined' || !Search.htmlToText) return;
  const original = Search.htmlToText;
  Search.htmlToText = (htmlString, anchor) => {
    const page = new DOMParser().parseFromString(htmlString, 'text/html');
    const article = page.querySelector('article.bd-article');
    if (!article) return original(htmlString, anchor);
    const drop = ['.headerlink', 'script', 'style', 'h1', '.chapter-downloads', '.chapter-about',
                  '.toctree-wrapper'];
    drop.forEach((query) => article.querySelectorAll(query).forEach((el) => el.remove()));
    const part = anchor ? article.querySelector(anchor) : null;
    return (part || article).textContent.replace(/\s+/g, ' ').trim();
  };
});
