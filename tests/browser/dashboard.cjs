// Drives the sink's dashboard page in headless Chromium (Debian's, through
// playwright-core) while tests/integration/test_sink_ws.py publishes events:
// aggregates for int-1..int-3 every 0.3 s and a CRITICAL "congestion" alert on
// int-2, FIRING until this script prints RESOLVE, RESOLVED after.
// Checks: connected; one row per key whose values change (live); the alert
// FIRING; screenshot at $SCREENSHOT; the alert gone once RESOLVED; no script
// errors.  Prints OK and exits 0, or FAIL and exits 1.
// Env: URL (the page), CHROMIUM (browser binary), SCREENSHOT, NODE_PATH
// (tests/.cache/browser/node_modules).
"use strict";
const { check, newPage, run } = require("./browser.cjs");

run(async (browser) => {
  const page = await newPage(browser, { viewport: { width: 1280, height: 640 } });
  await page.goto(process.env.URL);
  await page.waitForFunction(
    () => document.getElementById("status").textContent === "connected", null,
    { timeout: 30000 });
  console.log("connected");

  const row = (k) => `#values tbody tr[data-key="${k}"]`;
  await page.waitForSelector(row("int-3"), { timeout: 30000 });
  const keys = await page.$$eval("#values tbody tr", (trs) => trs.map((t) => t.dataset.key).sort());
  check(JSON.stringify(keys) === JSON.stringify(["int-1", "int-2", "int-3"]), "rows " + keys);
  const heads = await page.$$eval("#values thead th", (ths) => ths.map((t) => t.dataset.col || t.textContent));
  check(heads.includes("speed_kmh (mean)"), "columns " + heads);
  const name = await page.textContent(row("int-1") + " td:nth-child(2)");
  check(name === "Main St & int-1", "name " + name);
  const before = await page.textContent(row("int-1") + ' td[data-col="speed_kmh (mean)"]');
  await page.waitForFunction(
    ([sel, v]) => document.querySelector(sel).textContent !== v,
    [row("int-1") + ' td[data-col="speed_kmh (mean)"]', before], { timeout: 20000 });
  const after = await page.textContent(row("int-1") + ' td[data-col="speed_kmh (mean)"]');
  console.log(`live: speed_kmh (mean) of int-1 went ${before} -> ${after}`);
  const markup = await page.textContent(row("int-3") + " td:nth-child(2)");
  check(markup === '<b>x</b><img src=x onerror="window.pwned=1">', "name shown as text " + markup);
  check(await page.evaluate(() => window.pwned === undefined && !document.querySelector("#values img")),
        "markup from the feed was not run");

  const alert = '#alerts tbody tr[data-rule="congestion"][data-key="int-2"][data-state="FIRING"]';
  await page.waitForSelector(alert, { timeout: 30000 });
  const text = await page.textContent(alert);
  check(text.includes("CRITICAL") && text.includes("Main St & int-2") &&
        text.includes("mean(speed_kmh) = 14.2"), "alert row " + text);
  check(await page.textContent("#alert-count") === "1", "one alert firing");
  await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  console.log("screenshot " + process.env.SCREENSHOT);

  console.log("RESOLVE");
  await page.waitForFunction(
    () => document.querySelectorAll("#alerts tbody tr").length === 0, null, { timeout: 30000 });
  check(await page.isVisible("#no-alerts"), "no-alerts note shown");
  check(page.errors.length === 0, "page errors: " + page.errors.join("; "));

  // The query string narrows the subscription: one key, aggregates only.
  const narrow = await browser.newPage();
  await narrow.goto(process.env.URL + "?keys=int-1&kinds=aggregate");
  await narrow.waitForSelector(row("int-1"), { timeout: 30000 });
  await narrow.waitForTimeout(1000); // several frames' worth
  const only = await narrow.$$eval("#values tbody tr", (trs) => trs.map((t) => t.dataset.key));
  check(JSON.stringify(only) === '["int-1"]', "filtered page rows " + only);
  check(await narrow.textContent("#alert-count") === "0", "filtered page: no alerts");
  console.log("filtered page: only int-1");
  console.log("OK: live values for 3 keys, alert FIRING then RESOLVED");
});
