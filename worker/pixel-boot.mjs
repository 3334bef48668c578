// Worker threads do not inherit tsx's loader: register it, then run the TypeScript thread.
import { register } from 'tsx/esm/api';

register();
await import('./pixel-thread.ts');
