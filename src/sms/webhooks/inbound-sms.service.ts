import { Injectable } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import twilio from 'twilio';
import { Repository } from 'typeorm';
import { AuditAction } from '../../audit/audit-action.enum.js';
import { AuditService } from '../../audit/audit.service.js';
import { Clock } from '../../common/clock.js';
import { runTransaction } from '../../database/transactions.js';
import { AppConfig } from '../../config/app-config.js';
import { OptOutService } from '../opt-outs/opt-out.service.js';
import { OptOutSource } from '../opt-outs/sms-opt-out.entity.js';
import { PhoneNumberService } from '../../phone/phone-number.service.js';
import { classifyInbound } from './inbound-keywords.js';
import { InboundSms, type InboundKeyword } from './inbound-sms.entity.js';
import { SMS_RECEIVED, type SmsReceivedEvent } from './sms-received.event.js';
import { formField, invalidField, MESSAGE_SID } from './webhook-form.js';
import { ALPHANUMERIC_SENDER_ID, E164_SHAPE, SHORT_CODE } from '../../phone/sender-ids.js';

export interface InboundResult {
  /** TwiML to answer Twilio with (an empty <Response/> when there is nothing to say). */
  twiml: string;
  keyword: InboundKeyword | null;
  duplicate: boolean;
}

/**
 * Inbound SMS: stored once per Twilio SID, acted on (opt-out, opt-in, help), announced as
 * `sms.received`, and answered in TwiML. When Twilio's Advanced Opt-Out handled the keyword
 * (`OptOutType` present), Twilio has already replied: the answer is empty. A short code or an
 * alphanumeric sender is stored and announced, never acted on nor answered; a `From` that is none
 * of these nor a phone number is refused.
 */
@Injectable()
export class InboundSmsService {
  constructor(
    @InjectRepository(InboundSms) private readonly inbound: Repository<InboundSms>,
    private readonly optOuts: OptOutService,
    private readonly phones: PhoneNumberService,
    private readonly events: EventEmitter2,
    private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly audit: AuditService,
  ) {}

  async receive(form: unknown): Promise<InboundResult> {
    const sid = formField(form, 'MessageSid', { required: true, pattern: MESSAGE_SID });
    const rawFrom = formField(form, 'From', { required: true, max: 64 });
    const to = formField(form, 'To', { max: 64 });
    const body = formField(form, 'Body', { max: 10_000 }) ?? '';
    const optOutType = formField(form, 'OptOutType', { max: 16 });

    const { from, phone } = this.sender(rawFrom);
    const keyword = classifyInbound(body, optOutType, this.config.inbound);

    const row = this.inbound.create({
      id: randomUUID(),
      providerSid: sid,
      from,
      to,
      body,
      keyword,
      // Upper-cased, still within its 16 characters (`ß` becomes `SS`).
      optOutType: optOutType ? Array.from(optOutType.toUpperCase()).slice(0, 16).join('') : null,
      receivedAt: this.clock.now(),
    });
    // The message, the consent it changes and the journaled reply commit together, or none of them does: a
    // failure (or a crash) leaves no row, so Twilio's retry of the same SID is handled as new. A retry arriving
    // while this transaction is open waits for its end (the unique SID on PostgreSQL, the one writer on SQLite),
    // then finds the message stored (a duplicate: nothing again) or not (handled as new).
    const outcome = await runTransaction(this.inbound.manager.connection, async (manager) => {
      await manager.createQueryBuilder().insert().into(InboundSms).values(row).orIgnore().execute();
      const stored = await manager.findOneBy(InboundSms, { providerSid: sid });
      // Twilio retried a message we already have: nothing again, nothing to answer.
      if (!stored || stored.id !== row.id) return null;

      // An opt-in word ("Oui", "Yes", "Start") from a number that had not opted out is an ordinary reply (most
      // often a client answering a confirmation): nothing to lift, so no "you will receive our SMS again" sent back.
      let liftedOptOut = false;
      // A STOP and a START from one number at once (or a staff change) are taken in turn (OptOutService), so the later
      // one sees the earlier's commit: a START cannot miss an opt-out still being written and lift nothing.
      if (phone && keyword === 'opt_out')
        await this.optOuts.optOut(phone, { source: OptOutSource.Keyword, reason: this.optOutReason(body, row.optOutType) }, manager);
      else if (phone && keyword === 'opt_in') liftedOptOut = (await this.optOuts.optIn(phone, { source: 'keyword' }, manager)) !== null;

      // Twilio's Advanced Opt-Out already replied (OptOutType): nothing to say. A short code or an alphanumeric
      // sender cannot be texted back (nor opted out): nothing to say either, no reply journaled. Nor a number of a
      // country SMS_ALLOWED_COUNTRIES leaves out (a reply is an SMS we pay for: HELP from premium ranges abroad is
      // pumping too); its STOP is still recorded.
      const silent = optOutType || !phone || (keyword === 'opt_in' && !liftedOptOut) || this.phones.countryRefusal(phone);
      const text = silent ? '' : this.replyText(keyword);
      // The reply is an SMS we send (Twilio sends it from our TwiML): journaled like any other send, by the
      // system. Twilio gives it its SID only once it goes, so the entry has none.
      if (text)
        await this.audit.record(
          {
            action: AuditAction.SendSms,
            actor: null,
            target: { type: 'sms_inbound', id: row.id },
            metadata: { to: from, message: text, replyTo: sid, keyword, via: 'twiml', status: null, sid: null },
          },
          manager,
        );
      return { text };
    });
    if (!outcome) return { twiml: emptyResponse(), keyword, duplicate: true };

    const event: SmsReceivedEvent = { id: row.id, providerSid: sid, from, to, body, keyword, receivedAt: row.receivedAt };
    this.events.emit(SMS_RECEIVED, event);
    if (!outcome.text) return { twiml: emptyResponse(), keyword, duplicate: false };
    const response = new twilio.twiml.MessagingResponse();
    response.message(outcome.text);
    return { twiml: response.toString(), keyword, duplicate: false };
  }

  /**
   * Who sent it: a phone number (national or E.164; `phone` is its E.164 form; an E.164 number the phone library
   * finds invalid is taken as written), or a short code or an
   * alphanumeric sender ID, kept as written (`phone` null: no consent to record, no reply possible).
   * Anything else is a 400 naming `From`, before anything is stored or answered.
   */
  private sender(rawFrom: string): { from: string; phone: string | null } {
    const parsed = this.phones.format(rawFrom);
    if (parsed.valid && parsed.e164) return { from: parsed.e164, phone: parsed.e164 };
    // A number Twilio gives in E.164 from a range the phone library does not know yet (a new allocation): kept as
    // written, its STOP honoured. A 400 here would lose it: Twilio does not send a message again after a 4xx.
    if (E164_SHAPE.test(rawFrom)) return { from: rawFrom, phone: rawFrom };
    if (SHORT_CODE.test(rawFrom) || ALPHANUMERIC_SENDER_ID.test(rawFrom)) return { from: rawFrom, phone: null };
    throw invalidField('From', 'must be a phone number (E.164), a short code or an alphanumeric sender ID');
  }

  /**
   * What an opt-out by SMS keeps as its reason (the opt-out list is never purged, RETENTION_DAYS or not): the keyword as
   * the client wrote it when the body is one, else Twilio's OptOutType (`STOP`): never free text, which may hold a name
   * or another number ("Stop svp, Jean Dupont 06…" classified by Twilio's Advanced Opt-Out).
   */
  private optOutReason(body: string, optOutType: string | null): string {
    if (classifyInbound(body, null, this.config.inbound) === 'opt_out') return body.trim().slice(0, 40);
    return optOutType ?? 'STOP';
  }

  /** The configured answer to a keyword ('' when none, or when its text is empty). */
  private replyText(keyword: InboundKeyword | null): string {
    const { helpReply, optOutReply, optInReply } = this.config.inbound;
    return (keyword === 'help' ? helpReply : keyword === 'opt_out' ? optOutReply : keyword === 'opt_in' ? optInReply : '') ?? '';
  }
}

function emptyResponse(): string {
  return new twilio.twiml.MessagingResponse().toString();
}
