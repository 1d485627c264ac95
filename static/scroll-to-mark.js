() => { setTimeout(() => {
  // scroll only the viewer's own scroll box, never the page, to the highlighted quote
  const m = document.querySelector('#nd-viewer mark'); if (!m) return;
  for (let c = m.parentElement; c && c !== document.body; c = c.parentElement) {
    const o = getComputedStyle(c).overflowY;
    if ((o === 'auto' || o === 'scroll') && c.scrollHeight > c.clientHeight) {
      const head = c.querySelector('.nd-article-head');  // sticky: keep the quote below it
      c.scrollTop += m.getBoundingClientRect().top - c.getBoundingClientRect().top
        - (head ? head.offsetHeight : 0) - 24;
      return;
    }
  }
}, 50); }
