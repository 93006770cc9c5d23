import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfigFromProcess } from '../config/process-config.js';
import { buildDataSourceOptions } from './data-source.js';

const database = loadConfigFromProcess().database;
// The CLI runs migrations: no query timeout (building an index on a large table may take minutes).
export default new DataSource(buildDataSourceOptions(database.type === 'postgres' ? { ...database, queryTimeoutMs: 0 } : database));
