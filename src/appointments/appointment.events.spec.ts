import { appointmentSmsVersion, parseAppointmentSmsVersion } from './appointment.events.js';

describe('appointmentSmsVersion', () => {
  const at = { startsAt: '2030-06-03T10:00:00Z', clientPhone: '+33612345678' };

  it('tells a move and back (T → T2 → T) from no change: the revision is part of it', () => {
    expect(appointmentSmsVersion('confirmed', { ...at, revision: 2 })).toBe('confirmed|2030-06-03T10:00:00.000Z|+33612345678|2');
    expect(appointmentSmsVersion('confirmed', { ...at, revision: 4 })).not.toBe(appointmentSmsVersion('confirmed', { ...at, revision: 2 }));
    expect(parseAppointmentSmsVersion('confirmed|2030-06-03T10:00:00.000Z|+33612345678|4')).toEqual({
      status: 'confirmed',
      startsAt: '2030-06-03T10:00:00.000Z',
      clientPhone: '+33612345678',
      revision: 4,
    });
  });

  it('reads a version written before revisions existed (an event without one): no revision to compare', () => {
    expect(appointmentSmsVersion('cancelled', at)).toBe('cancelled|2030-06-03T10:00:00.000Z|+33612345678');
    expect(parseAppointmentSmsVersion('cancelled|2030-06-03T10:00:00.000Z|+33612345678')).toMatchObject({ revision: null });
  });
});
