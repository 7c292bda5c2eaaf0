// serveThreads(): the pool behaviour tests (tests/fixtures/pool/pool_cases.ts) on Workers.

import { serveThreads } from "../../server/thread.ts";
import { definePoolTests } from "../fixtures/pool/pool_cases.ts";

definePoolTests("thread", serveThreads);
