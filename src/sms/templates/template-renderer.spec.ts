import { compileTemplate, placeholdersOf, renderTemplate, TemplateSyntaxError } from './template-renderer.js';

const render = (source: string, values: Record<string, string | undefined>): string => renderTemplate(compileTemplate(source), values);

describe(compileTemplate.name, () => {
  it('keeps a template without tags as a single text', () => {
    expect(compileTemplate('Bonjour.').nodes).toEqual([{ kind: 'text', text: 'Bonjour.' }]);
  });

  it('parses fields, sections and inverted sections into a tree', () => {
    expect(compileTemplate('A{{x}}{{#y}}B{{y}}{{/y}}{{^y}}C{{/y}}').nodes).toEqual([
      { kind: 'text', text: 'A' },
      { kind: 'field', name: 'x' },
      {
        kind: 'section',
        name: 'y',
        inverted: false,
        children: [
          { kind: 'text', text: 'B' },
          { kind: 'field', name: 'y' },
        ],
      },
      { kind: 'section', name: 'y', inverted: true, children: [{ kind: 'text', text: 'C' }] },
    ]);
  });

  it('allows spaces inside the braces', () => {
    expect(render('{{ name }}{{# ref }} ({{ ref }}){{/ ref }}', { name: 'Jean', ref: 'R1' })).toBe('Jean (R1)');
  });

  it('keeps single braces as text', () => {
    expect(render('{a} }b{ {{x}}', { x: '1' })).toBe('{a} }b{ 1');
  });

  it.each([
    ['Bonjour {{name', /Unclosed "\{\{"/],
    ['Bonjour name}}', /Unexpected "\}\}"/],
    ['{{#a}}texte', /Section "a" is never closed/],
    ['texte{{/a}}', /closes no section/],
    ['{{#a}}{{#b}}{{/a}}{{/b}}', /closes section "b"/],
    ['{{}}', /Invalid tag/],
    ['{{1abc}}', /Invalid tag/],
    ['{{a b}}', /Invalid tag/],
    ['{{{name}}}', /Invalid tag/],
    ['{{!comment}}', /Invalid tag/],
  ])('refuses the malformed template %j', (source, message) => {
    expect(() => compileTemplate(source)).toThrow(TemplateSyntaxError);
    expect(() => compileTemplate(source)).toThrow(message);
  });

  it('reports the position of the problem', () => {
    expect(() => compileTemplate('abc {{#x}}')).toThrow(expect.objectContaining({ position: 4 }));
  });
});

describe(renderTemplate.name, () => {
  it('replaces fields by their values', () => {
    expect(render('Bonjour {{name}}, à {{time}}.', { name: 'Jean Dupont', time: '14:30' })).toBe('Bonjour Jean Dupont, à 14:30.');
  });

  it('renders a section only when its field has a value', () => {
    const source = 'Votre dossier{{#reference}} {{reference}}{{/reference}} a été mis à jour.';
    expect(render(source, { reference: 'D-42' })).toBe('Votre dossier D-42 a été mis à jour.');
    expect(render(source, {})).toBe('Votre dossier a été mis à jour.');
    expect(render(source, { reference: '' })).toBe('Votre dossier a été mis à jour.');
  });

  it('renders an inverted section only when its field has no value', () => {
    const source = '{{#sender}}{{sender}} vous a écrit{{/sender}}{{^sender}}Nouveau message{{/sender}}.';
    expect(render(source, { sender: 'Sophie' })).toBe('Sophie vous a écrit.');
    expect(render(source, {})).toBe('Nouveau message.');
  });

  it('renders nested sections', () => {
    const source = '{{#a}}A{{#b}}B{{/b}}{{^b}}-{{/b}}{{/a}}';
    expect(render(source, { a: '1', b: '1' })).toBe('AB');
    expect(render(source, { a: '1' })).toBe('A-');
    expect(render(source, { b: '1' })).toBe('');
  });

  it('renders a field without a value as nothing, never as "undefined"', () => {
    expect(render('[{{missing}}]', {})).toBe('[]');
  });

  it('inserts a value containing tags literally instead of rendering it (no template injection)', () => {
    expect(render('Bonjour {{name}}', { name: '{{secret}} {{#x}}y{{/x}}', secret: 'LEAK' })).toBe('Bonjour {{secret}} {{#x}}y{{/x}}');
  });

  it('inserts values with replacement patterns such as $& literally', () => {
    expect(render('Prix : {{price}}', { price: "$& $' $1" })).toBe("Prix : $& $' $1");
  });

  it('renders the same compiled template many times with different values', () => {
    const template = compileTemplate('Bonjour {{name}}');
    expect(renderTemplate(template, { name: 'A' })).toBe('Bonjour A');
    expect(renderTemplate(template, { name: 'B' })).toBe('Bonjour B');
  });
});

describe(placeholdersOf.name, () => {
  it('lists every field and section with the sections that enclose it', () => {
    expect(placeholdersOf(compileTemplate('{{name}}{{#a}}{{^b}}{{c}}{{/b}}{{/a}}'))).toEqual([
      { name: 'name', kind: 'field', within: [] },
      { name: 'a', kind: 'section', within: [] },
      { name: 'b', kind: 'section', within: [{ name: 'a', inverted: false }] },
      {
        name: 'c',
        kind: 'field',
        within: [
          { name: 'a', inverted: false },
          { name: 'b', inverted: true },
        ],
      },
    ]);
  });
});
