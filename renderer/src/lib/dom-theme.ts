// The theme as <html data-theme> says it (what the CSS follows), for what draws its own colors
// (the policy editor, the replayer's timeline): it changes with the store's theme, and also when
// the attribute is set directly (the screenshot tests do).

import { useEffect, useState } from 'react';

export type DomTheme = 'light' | 'dark';

function read(): DomTheme {
  return document.documentElement.dataset.theme === 'light' ? 'light' : 'dark';
}

export function useDomTheme(): DomTheme {
  const [theme, setTheme] = useState(read);
  useEffect(() => {
    const mo = new MutationObserver(() => setTheme(read()));
    mo.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    return () => mo.disconnect();
  }, []);
  return theme;
}
