/** The durable manager's semantics and model paths on a real PostgreSQL 15 server, started on 127.0.0.1. */
import { durableManagerSuite } from './suite.js';

durableManagerSuite('postgres');
