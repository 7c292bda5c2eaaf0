// The README's main job and the example nginx configs, tried as a user would.

import { assertEquals, assertStringIncludes } from "@std/assert";
import { join } from "@std/path";
import { serveFastCgi } from "../server/fastcgi/server.ts";
import hello from "../examples/hello.ts";
import { freePort, waitForPort } from "./_helpers/ports.ts";

const root = new URL("..", import.meta.url).pathname;

Deno.test("flup serve (the README quick start command) serves examples/hello.ts under its narrow permissions", async () => {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    // The same flags as the README quick start, on a free port.
    args: [
      "run",
      "--no-prompt",
      `--allow-net=127.0.0.1:${port}`,
      "--allow-read=examples",
      "cli.ts",
      "serve",
      "examples/hello.ts",
      "--fastcgi",
      `127.0.0.1:${port}`,
    ],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let printed = "";
    while (!printed.includes("stop:")) {
      const { done, value } = await reader.read();
      if (done) break;
      printed += value;
    }
    reader.releaseLock();
    assertStringIncludes(printed, `serving examples/hello.ts over FastCGI on 127.0.0.1:${port}`);
    assertStringIncludes(printed, `fastcgi_pass 127.0.0.1:${port};`);
    // The "try it" line the demo prints, run as printed.
    const output = await new Deno.Command("cgi-fcgi", {
      args: ["-bind", "-connect", `127.0.0.1:${port}`],
      env: { REQUEST_METHOD: "GET", REQUEST_URI: "/" },
      stdout: "piped",
    }).output();
    assertStringIncludes(new TextDecoder().decode(output.stdout), "Hello, world! You asked for /");
  } finally {
    child.kill("SIGINT");
    const status = await child.status;
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel();
    // SIGINT drains and exits cleanly.
    assertEquals(status.code, 0);
  }
});

for (const name of ["fastcgi_tcp", "fastcgi_keepalive", "fastcgi_unix"]) {
  Deno.test(`examples/nginx/${name}.conf reaches a flup app`, async () => {
    const dir = await Deno.makeTempDir();
    await Deno.chmod(dir, 0o711);
    const socket = join(dir, "app.sock");
    const server = name === "fastcgi_unix"
      ? serveFastCgi(hello, { path: socket, log: () => {} })
      : serveFastCgi(hello, { port: 0, log: () => {} });
    const addr = await server.ready;
    const httpPort = freePort();
    let config = await Deno.readTextFile(join(root, "examples/nginx", `${name}.conf`));
    config = config
      .replace("listen 8080;", `listen 127.0.0.1:${httpPort};`)
      .replaceAll("127.0.0.1:9000", "port" in addr ? `127.0.0.1:${addr.port}` : "")
      .replaceAll("unix:/run/flup/app.sock", `unix:${socket}`)
      .replaceAll("include fastcgi_params;", "include /etc/nginx/fastcgi_params;");
    await Deno.mkdir(join(dir, "logs"));
    await Deno.writeTextFile(join(dir, "site.conf"), config);
    await Deno.writeTextFile(
      join(dir, "nginx.conf"),
      [
        ...(Deno.uid() === 0 ? ["user root;"] : []),
        "daemon off;",
        "worker_processes 1;",
        `pid ${dir}/nginx.pid;`,
        `error_log ${dir}/logs/error.log;`,
        "events {}",
        "http {",
        "  access_log off;",
        `  client_body_temp_path ${dir}/body; fastcgi_temp_path ${dir}/fastcgi;`,
        `  proxy_temp_path ${dir}/proxy; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`,
        `  include ${dir}/site.conf;`,
        "}",
      ].join("\n"),
    );
    const nginx = new Deno.Command("nginx", {
      args: ["-p", dir, "-c", join(dir, "nginx.conf")],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    try {
      await waitForPort("127.0.0.1", httpPort);
      for (let i = 0; i < 3; i++) {
        const response = await fetch(`http://127.0.0.1:${httpPort}/from/nginx?i=${i}`);
        if (response.status !== 200) console.log(await Deno.readTextFile(`${dir}/logs/error.log`));
        assertEquals(response.status, 200);
        assertEquals(await response.text(), `Hello, world! You asked for /from/nginx?i=${i}\n`);
      }
    } finally {
      nginx.kill("SIGTERM");
      await nginx.status;
      await nginx.stderr.cancel();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
