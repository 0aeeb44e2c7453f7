// Public surface of the KES API face: the face itself, its settings and its error writer.
export { KesFace, kesRoutePaths, type KesFaceOptions } from './kes-face.ts';
export { kesErrorBody, writeKesError } from './kes-error.ts';
export {
  SLOG,
  defaultKesSettings,
  kesSettings,
  type KesApiOverride,
  type KesSettings,
  type KesStaticPolicy,
} from '../../config/kes-settings.ts';
