import { analyzeSmsBody, isGsm7, MAX_SMS_BODY_LENGTH } from './sms-encoding.js';

const GSM7_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM7_EXTENSION = ['\f', '^', '{', '}', '\\', '[', '~', ']', '|', '€'];
const EMOJI = '😀'; // U+1F600: a surrogate pair, two UTF-16 code units

describe('MAX_SMS_BODY_LENGTH', () => {
  it("is Twilio's limit of 1600 characters", () => {
    expect(MAX_SMS_BODY_LENGTH).toBe(1600);
  });
});

describe(analyzeSmsBody.name, () => {
  describe('encoding', () => {
    it('treats every character of the GSM 03.38 basic table as GSM-7 at one septet', () => {
      expect([...GSM7_BASIC]).toHaveLength(127); // 128 positions, minus the escape 0x1B
      for (const char of GSM7_BASIC) {
        expect(analyzeSmsBody(char), JSON.stringify(char)).toMatchObject({ encoding: 'GSM-7', septets: 1, ucs2Characters: [] });
      }
    });

    it.each(GSM7_EXTENSION)('treats the extension character %j as GSM-7 at two septets', (char) => {
      expect(analyzeSmsBody(char)).toEqual({ encoding: 'GSM-7', segments: 1, characters: 1, septets: 2, ucs2Characters: [] });
    });

    it.each([
      ['ê', 'Rappel : fête'],
      ['â', 'grâce'],
      ['î', 'île'],
      ['ô', 'hôpital'],
      ['û', 'août'],
      ['ë', 'Noël'],
      ['ï', 'naïf'],
      ['ç', 'reçu'],
      ['œ', 'cœur'],
      ['À', 'À bientôt'],
      ['’', 'l’agence'],
      ['“', '“oui”'],
      ['«', '« oui »'],
      ['°', 'dossier n° 12'],
      ['\u00a0', 'Lieu\u00a0: Paris'],
      ['`', 'back`tick'],
      [EMOJI, `Merci ${EMOJI}`],
    ])('forces UCS-2 because of %j in %j', (char, body) => {
      const result = analyzeSmsBody(body);
      expect(result.encoding).toBe('UCS-2');
      expect(result.ucs2Characters).toContain(char);
      expect(result.septets).toBeUndefined();
    });

    it('keeps French text with é, è, à, ù and Ç in GSM-7', () => {
      expect(analyzeSmsBody('Votre rendez-vous est confirmé')).toMatchObject({ encoding: 'GSM-7', segments: 1, septets: 30 });
      expect(analyzeSmsBody('Ça a été déplacé à 14:30, où vous étiez ; règle')).toMatchObject({ encoding: 'GSM-7', ucs2Characters: [] });
    });

    it('switches "Rappel : fête" to UCS-2 because of ê', () => {
      expect(analyzeSmsBody('Rappel : fête')).toEqual({ encoding: 'UCS-2', segments: 1, characters: 13, ucs2Characters: ['ê'] });
    });

    it('lists each character that forced UCS-2 once, in order of first appearance', () => {
      expect(analyzeSmsBody(`fête ${EMOJI} reçu, fête ${EMOJI} cœur`).ucs2Characters).toEqual(['ê', EMOJI, 'ç', 'œ']);
    });
  });

  describe('characters', () => {
    it('counts UTF-16 code units as Twilio does: an emoji counts two', () => {
      expect(analyzeSmsBody(`ab${EMOJI}`).characters).toBe(4);
    });

    it('counts an extension character once in characters but twice in septets', () => {
      expect(analyzeSmsBody('5 €')).toMatchObject({ characters: 3, septets: 4 });
    });
  });

  describe('segments', () => {
    it('returns zero segments for an empty body', () => {
      expect(analyzeSmsBody('')).toEqual({ encoding: 'GSM-7', segments: 0, characters: 0, septets: 0, ucs2Characters: [] });
    });

    it.each([
      [1, 1],
      [160, 1],
      [161, 2],
      [306, 2],
      [307, 3],
      [459, 3],
      [460, 4],
      [1600, 11],
    ])('puts %i GSM-7 septets in %i segment(s)', (length, segments) => {
      expect(analyzeSmsBody('a'.repeat(length))).toMatchObject({ encoding: 'GSM-7', segments, septets: length });
    });

    it.each([
      [1, 1],
      [70, 1],
      [71, 2],
      [134, 2],
      [135, 3],
      [201, 3],
      [202, 4],
    ])('puts %i UCS-2 code units in %i segment(s)', (length, segments) => {
      expect(analyzeSmsBody('ê'.repeat(length))).toMatchObject({ encoding: 'UCS-2', segments, characters: length });
    });

    it.each(['€', '{'])('counts %j double: 80 of them fill one segment, 81 need two', (char) => {
      expect(analyzeSmsBody(char.repeat(80))).toMatchObject({ septets: 160, segments: 1 });
      expect(analyzeSmsBody(char.repeat(81))).toMatchObject({ septets: 162, segments: 2 });
    });

    it('counts an extension character that crosses the 160 single-segment limit', () => {
      expect(analyzeSmsBody('a'.repeat(158) + '€')).toMatchObject({ septets: 160, segments: 1 });
      expect(analyzeSmsBody('a'.repeat(159) + '€')).toMatchObject({ septets: 161, segments: 2 });
    });

    it('does not split an extension character across a segment boundary', () => {
      // 152 septets + € (2) would straddle 153: the escape pair moves whole to the second part.
      const straddling = 'a'.repeat(152) + '€' + 'a'.repeat(152);
      expect(analyzeSmsBody(straddling)).toMatchObject({ septets: 306, segments: 3 });
      // The same septet count, but the pair ends exactly on the boundary: two parts suffice.
      const aligned = 'a'.repeat(151) + '€' + 'a'.repeat(153);
      expect(analyzeSmsBody(aligned)).toMatchObject({ septets: 306, segments: 2 });
    });

    it('fits 67 units per UCS-2 part with an emoji ending exactly on the boundary', () => {
      const body = 'ê'.repeat(65) + EMOJI + 'ê'.repeat(67);
      expect(analyzeSmsBody(body)).toMatchObject({ characters: 134, segments: 2 });
    });

    it('does not split an emoji (surrogate pair) across a UCS-2 segment boundary', () => {
      // 66 units + 2 would straddle 67: the emoji moves whole to the second part.
      const body = 'ê'.repeat(66) + EMOJI + 'ê'.repeat(66);
      expect(analyzeSmsBody(body)).toMatchObject({ characters: 134, segments: 3 });
    });

    it('fits 35 emoji (70 code units) in a single UCS-2 segment and 36 in two', () => {
      expect(analyzeSmsBody(EMOJI.repeat(35))).toMatchObject({ characters: 70, segments: 1 });
      expect(analyzeSmsBody(EMOJI.repeat(36))).toMatchObject({ characters: 72, segments: 2 });
    });

    it('turns a 160-character GSM-7 body into three UCS-2 segments with a single ê', () => {
      expect(analyzeSmsBody('a'.repeat(160)).segments).toBe(1);
      expect(analyzeSmsBody('ê' + 'a'.repeat(159)).segments).toBe(3);
    });
  });
});

describe(isGsm7.name, () => {
  it('is true for GSM-7 text including extension characters', () => {
    expect(isGsm7('Prix : 5 € [TTC]')).toBe(true);
  });

  it('is false as soon as one character is outside the GSM alphabet', () => {
    expect(isGsm7('fête')).toBe(false);
  });

  it('is true for the empty string', () => {
    expect(isGsm7('')).toBe(true);
  });
});
