// Opens one trace in Weir's trace view (tests/jaeger/ui, served by Jaeger's
// own query server: tests/harness/jaeger.py) in headless Chromium (Debian's,
// through playwright-core) and checks what a person would look at: the
// trace id, one row per span Jaeger returned, the services in the legend,
// the span names expected, bars drawn, the enrichment span's commit event
// on its bar; no page error.  Then takes a screenshot of the whole page.
// Prints OK and exits 0, or FAIL and exits 1.
// Env: URL (…/trace/<id>), CHROMIUM, VIEWPORT (e.g. 1400x900), SCREENSHOT
// (png path), EXPECT (JSON: {"trace": id, "spans": n, "services": [...],
// "ops": [...]}), NODE_PATH (tests/.cache/browser/node_modules).
"use strict";
const { check, newPage, run } = require("./browser.cjs");

run(async (browser) => {
  const want = JSON.parse(process.env.EXPECT);
  const [w, h] = process.env.VIEWPORT.split("x").map(Number);
  const page = await newPage(browser, { viewport: { width: w, height: h } });
  await page.goto(process.env.URL);
  await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 10000 });
  check(await page.evaluate(() => document.body.dataset.ready) === "1",
        "page drawn: " + await page.textContent("#err"));
  check(await page.textContent("#trace-id") === want.trace, "trace id shown");
  const rows = await page.$$eval("tr.span", (trs) => trs.map((t) => [t.dataset.service, t.dataset.op]));
  check(rows.length === want.spans, `one row per span: ${rows.length} vs ${want.spans}`);
  const legend = await page.$$eval("#services [data-service]", (s) => s.map((x) => x.dataset.service));
  check(JSON.stringify([...legend].sort()) === JSON.stringify([...want.services].sort()),
        "services in the legend " + JSON.stringify(legend));
  for (const op of want.ops)
    check(rows.some((r) => r[1] === op), "a row for " + op);
  const bars = await page.$$eval("tr.span .bar", (b) => b.filter((x) => x.getBoundingClientRect().width >= 2).length);
  check(bars === rows.length, "a visible bar per span");
  const commit = await page.$$eval('tr.span[data-op="enrichment join"] .ev',
                                    (e) => e.map((x) => x.getAttribute("title")));
  check(commit.includes("kafka.txn.commit"), "the commit event on enrichment's bar " + JSON.stringify(commit));
  check(page.errors.length === 0, "page errors: " + page.errors.join("; "));
  await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  console.log(`OK ${rows.length} spans of ${legend.length} services drawn, screenshot ${process.env.SCREENSHOT}`);
});
