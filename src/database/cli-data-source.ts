import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfigFromProcess } from '../config/process-config.js';
import { buildDataSourceOptions } from './data-source.js';

export default new DataSource(buildDataSourceOptions(loadConfigFromProcess().database));
