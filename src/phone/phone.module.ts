import { Global, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { DEFAULT_PHONE_COUNTRY, PhoneNumberService, SMS_ALLOWED_COUNTRIES } from './phone-number.service.js';

/** One PhoneNumberService for every module that takes a number (users, SMS, appointments). */
@Global()
@Module({
  providers: [
    { provide: DEFAULT_PHONE_COUNTRY, inject: [AppConfig], useFactory: (config: AppConfig) => config.defaultCountry },
    { provide: SMS_ALLOWED_COUNTRIES, inject: [AppConfig], useFactory: (config: AppConfig) => config.sms.allowedCountries },
    PhoneNumberService,
  ],
  exports: [PhoneNumberService],
})
export class PhoneModule {}
