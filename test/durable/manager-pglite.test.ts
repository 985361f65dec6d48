/** The durable manager's semantics and model paths on PGlite, in this process. */
import { durableManagerSuite } from './suite.js';

durableManagerSuite('pglite');
