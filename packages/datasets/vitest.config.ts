export { default } from '../../config/vitest.config';
