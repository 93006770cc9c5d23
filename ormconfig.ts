// The DataSource the TypeORM CLI uses (migration:generate|run|revert): the same options the app
// builds, from the same validated configuration.
export { default } from './src/database/cli-data-source.js';
