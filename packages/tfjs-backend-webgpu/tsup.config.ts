export { default } from '../../config/tsup.config.ts';
