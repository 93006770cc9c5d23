import { Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { Page, paginate } from '../common/dto/pagination.dto.js';
import { ListMessagesQueryDto } from './dto/list-messages-query.dto.js';
import { PhoneNumberService } from '../phone/phone-number.service.js';
import { SmsKind, SmsMessage } from './sms-message.entity.js';
import { andWhereState } from './sms-batches.service.js';
import { explainErrorCode, type Lang } from './failure-explanations.js';
import { DeliveryStatusService, type StatusHistoryEntry } from './webhooks/delivery-status.service.js';

/** Reads the stored messages (the send path lives in SmsService). */
@Injectable()
export class SmsMessagesService {
  constructor(
    @InjectRepository(SmsMessage) private readonly messages: Repository<SmsMessage>,
    private readonly phones: PhoneNumberService,
    private readonly statuses: DeliveryStatusService,
  ) {}

  async list(query: ListMessagesQueryDto): Promise<Page<SmsMessage>> {
    const qb = this.messages.createQueryBuilder('m');
    if (query.phone) {
      qb.andWhere('m.to = :to', { to: this.phones.normalize(query.phone, { field: 'phone' }) });
    }
    if (query.status) qb.andWhere('m.status = :status', { status: query.status });
    if (query.state) andWhereState(qb, query.state);
    if (query.type) {
      // `single` and `bulk` are kinds; anything else is a notification type.
      if (query.type === SmsKind.Single || query.type === SmsKind.Bulk || query.type === SmsKind.Notification)
        qb.andWhere('m.kind = :kind', { kind: query.type });
      else qb.andWhere('m.templateType = :type', { type: query.type });
    }
    if (query.category) qb.andWhere('m.category = :category', { category: query.category });
    if (query.since) qb.andWhere('m.createdAt >= :since', { since: query.since });
    if (query.until) qb.andWhere('m.createdAt < :until', { until: query.until });
    return paginate(qb, query, 'createdAt', 'DESC');
  }

  /** One message, its error code explained in `lang`, and the statuses Twilio reported (`history`). */
  async get(id: string, lang: Lang = 'fr'): Promise<SmsMessage & { errorExplanation: string | null; history: StatusHistoryEntry[] }> {
    const message = await this.messages.findOneBy({ id });
    if (!message) throw new NotFoundException(`No SMS with id ${id}`);
    return { ...message, errorExplanation: explainErrorCode(message.errorCode, lang), history: await this.statuses.history(id, lang) };
  }

  /** The messages sent about one thing (e.g. an appointment), oldest first. */
  findRelated(type: string, id: string): Promise<SmsMessage[]> {
    return this.messages.find({ where: { relatedType: type, relatedId: id }, order: { createdAt: 'ASC' } });
  }
}
