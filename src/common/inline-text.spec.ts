import { inlineText, placeholderProblem } from './inline-text.js';

describe('inlineText', () => {
  it('composes accents, turns any run of spaces into one space, drops invisible and control characters', () => {
    expect(inlineText('He\u0301le\u0300ne')).toBe('Hélène');
    expect(inlineText(' Jean\u00a0\u202fDupont\t\r\n Bis ')).toBe('Jean Dupont Bis');
    expect(inlineText('\u200bJean\u0007\u001b')).toBe('Jean');
    // An emoji sequence keeps its joiners and a subdivision flag its tags; a joiner after a name goes.
    expect(inlineText('👨\u200d👩\u200d👧')).toBe('👨\u200d👩\u200d👧');
    expect(inlineText('❤️\u200d🔥')).toBe('❤️\u200d🔥');
    const scotland = '🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}';
    expect(inlineText(scotland)).toBe(scotland);
    expect(inlineText('Jean\u200d')).toBe('Jean');
    expect(inlineText('\u200dJean \u{E0067}')).toBe('Jean');
  });
});

describe('placeholderProblem', () => {
  it('finds {{ or }} as the value is written in, also split by an invisible character', () => {
    for (const value of ['{{prenom}}', 'Jean }}', '{\u00ad{prenom}\u200b}'])
      expect(placeholderProblem(value)).toMatch(/^must not contain \{\{ or \}\}/);
  });

  it('lets single braces through, and braces a control character keeps apart (written in as a space)', () => {
    expect(placeholderProblem('Jean {Dupont}')).toBeNull();
    expect(placeholderProblem('{\u0007{x}}')).toMatch(/must not contain/); // the closing }} stays
    expect(placeholderProblem('{\u0007{x}')).toBeNull();
  });
});
