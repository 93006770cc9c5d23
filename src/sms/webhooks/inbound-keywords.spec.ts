import { AppConfig, foldKeyword } from '../../config/app-config.js';
import { classifyInbound } from './inbound-keywords.js';

const defaults = AppConfig.fromEnvironment({}).inbound;

describe('foldKeyword', () => {
  it.each([
    ['  Arrêt ', 'ARRET'],
    ['désabonner', 'DESABONNER'],
    ['stop\t \u00a0sms', 'STOP SMS'],
    ['Oui !', 'OUI'],
    ['"STOP."', 'STOP'],
    ['Démarrer', 'DEMARRER'],
  ])('%j → %j', (input, folded) => expect(foldKeyword(input)).toBe(folded));
});

describe('foldKeyword, typographic', () => {
  it.each([
    ['«STOP»', 'STOP'],
    ['«\u202fStop\u202f»', 'STOP'],
    ['« arrêt »', 'ARRET'],
    ['“Stop”', 'STOP'],
    ['‘stop’', 'STOP'],
    ['„Stop“', 'STOP'],
    ['‹ STOP ›', 'STOP'],
    ['¡Stop!', 'STOP'],
    ['STOP…', 'STOP'],
    ['– STOP –', 'STOP'],
    ['*STOP*', 'STOP'],
    ['\u200bSTOP\u2060', 'STOP'],
    ['\ufeffStop\u200e', 'STOP'],
    ['« Stop\u202fSMS »', 'STOP SMS'],
    ['"STOP."', 'STOP'],
    ['«»', ''],
  ])('%j → %j', (input, folded) => expect(foldKeyword(input)).toBe(folded));

  it.each([
    ['ＳＴＯＰ', 'STOP'],
    ['ｓｔｏｐ　ｓｍｓ', 'STOP SMS'],
    ['Ａｒｒêｔ', 'ARRET'],
    ['ﬁn', 'FIN'],
    ['🛑 STOP', '🛑 STOP'],
  ])('%j → %j', (input, folded) => expect(foldKeyword(input)).toBe(folded));

  it('keeps punctuation inside the words', () => {
    expect(foldKeyword('« Stop, je serai en retard »')).toBe('STOP, JE SERAI EN RETARD');
    expect(foldKeyword('«STOP-SMS»')).toBe('STOP-SMS');
  });
});

describe('classifyInbound', () => {
  it.each(['STOP', 'stopall', 'Unsubscribe', 'cancel', 'END', 'quit', 'revoke', 'OPTOUT', 'arrêt', 'ARRET', 'Stop Sms', 'désabonner'])(
    '%j is an opt-out',
    (body) => expect(classifyInbound(body, null, defaults)).toBe('opt_out'),
  );
  it.each(['START', 'unstop', 'Yes', 'oui', 'DÉMARRER'])('%j is an opt-in', (body) =>
    expect(classifyInbound(body, null, defaults)).toBe('opt_in'),
  );
  it.each(['HELP', 'aide', 'Info'])('%j asks for help', (body) => expect(classifyInbound(body, null, defaults)).toBe('help'));
  it.each(['«STOP»', '«\u202fSTOP\u202f»', '“Arrêt”', '¡stop!', 'STOP…'])('%j (typographic punctuation) is an opt-out', (body) =>
    expect(classifyInbound(body, null, defaults)).toBe('opt_out'),
  );
  it.each(['ＳＴＯＰ', 'STOP 🛑', '🛑 Stop 🙏🏽', 'stop 👍\u200d', 'Ａｒｒêｔ ❤️', '+STOP+', '« STOP » 😡'])(
    '%j (full-width letters, emoji or symbols around it) is an opt-out',
    (body) => expect(classifyInbound(body, null, defaults)).toBe('opt_out'),
  );
  it.each(['🛑', '🛑🛑', 'STOP 🛑 SMS'])('%j is not a keyword (nothing but emoji, or one inside the words)', (body) =>
    expect(classifyInbound(body, null, defaults)).toBeNull(),
  );
  it.each(['« Oui »', '«\u202fDémarrer\u202f»'])('%j (typographic punctuation) is an opt-in', (body) =>
    expect(classifyInbound(body, null, defaults)).toBe('opt_in'),
  );
  it.each(['stop, je serai en retard', 'Merci', '', 'STOPPER', '«»', '« stop, je serai en retard »'])('%j is an ordinary reply', (body) =>
    expect(classifyInbound(body, null, defaults)).toBeNull(),
  );

  it("lets Twilio's OptOutType decide when present", () => {
    expect(classifyInbound('Plus jamais', 'STOP', defaults)).toBe('opt_out');
    expect(classifyInbound('STOP', 'start', defaults)).toBe('opt_in');
    expect(classifyInbound('?', 'HELP', defaults)).toBe('help');
    expect(classifyInbound('STOP', 'SOMETHING', defaults)).toBe('opt_out');
  });

  it('uses the configured lists, folded the same way', () => {
    const config = AppConfig.fromEnvironment({
      SMS_OPT_OUT_KEYWORDS: 'Résilier, STOP',
      SMS_OPT_IN_KEYWORDS: 'REVENIR',
      SMS_HELP_KEYWORDS: '?',
    }).inbound;
    expect(config.optOutKeywords).toEqual(['RESILIER', 'STOP']);
    expect(classifyInbound('résilier', null, config)).toBe('opt_out');
    expect(classifyInbound('ARRET', null, config)).toBeNull();
    expect(classifyInbound('revenir', null, config)).toBe('opt_in');
  });
});

describe('inbound replies configuration', () => {
  it('has French defaults; an empty reply turns it off', () => {
    expect(defaults.optOutReply).toMatch(/^Vous ne recevrez plus/);
    const off = AppConfig.fromEnvironment({ SMS_HELP_REPLY: '', SMS_OPT_OUT_REPLY: '  ', SMS_OPT_IN_REPLY: 'Re-bonjour' }).inbound;
    expect(off).toMatchObject({ helpReply: '', optOutReply: '', optInReply: 'Re-bonjour' });
  });

  it('refuses an empty keyword list entry', () => {
    expect(() => AppConfig.fromEnvironment({ SMS_OPT_OUT_KEYWORDS: 'STOP,,ARRET' })).toThrow(
      /SMS_OPT_OUT_KEYWORDS must be a comma-separated list/,
    );
  });
});
