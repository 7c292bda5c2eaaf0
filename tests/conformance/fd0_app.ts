// The case app served on the listening socket inherited on fd 0, as lighttpd `bin-path`,
// spawn-fcgi and mod_fcgid start FastCGI apps. Needs no Deno permission at all.

import { serveFastCgi } from "../../server/fastcgi/server.ts";
import { createCaseApp } from "./case_app.ts";

serveFastCgi(createCaseApp(), { fd: 0 });
