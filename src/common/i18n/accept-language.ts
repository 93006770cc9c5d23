/**
 * The caller's preferred language among `supported`, from an `Accept-Language` header: entries are
 * read with their `q` weights (`de, en;q=0.8` → `en` when German is not supported), regional tags
 * count for their base language (`en-GB` → `en`), and `fallback` answers when nothing matches.
 */
export function preferredLanguage<L extends string>(header: string | string[] | undefined, supported: readonly L[], fallback: L): L {
  const text = Array.isArray(header) ? header.join(',') : header;
  if (!text) return fallback;
  const ranked = text
    .slice(0, 512)
    .split(',')
    .map((entry, index) => {
      const [tag = '', ...params] = entry.trim().split(';');
      const q = params.map((p) => /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(p)?.[1]).find((v) => v !== undefined);
      return { base: tag.trim().toLowerCase().split('-')[0] ?? '', q: q === undefined ? 1 : Number(q), index };
    })
    .filter((entry) => entry.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const { base } of ranked) {
    const match = supported.find((language) => language === base);
    if (match) return match;
  }
  return fallback;
}
