// Opens the sink's dashboard page in headless Chromium (Debian's, through
// playwright-core) AFTER events have flowed, as a user opening it at any
// moment would, and checks the snapshot is on the page within one second:
// one row per key and window, sorted by key; the firing alerts listed (and
// not the resolved one); units in the headers; a chart per row; the map's
// points coloured by alert state; the note that window ends are event time.
// Then it prints SNAPSHOT, waits for the charts to fill with the live windows
// tests/integration/test_sink_ws_dashboard.py publishes on that line, and
// takes a screenshot.  Prints OK and exits 0, or FAIL and exits 1.
// Env: URL (the page), CHROMIUM (browser binary), VIEWPORT (e.g. 1400x900),
// SCREENSHOT (png path), EXPECT (JSON: {"rows": [[key, window]...] in order,
// "firing": [[rule, key, severity]...] worst first, "resolved": [rule, key],
// "points": n, "chart": minimum points per chart before the screenshot}),
// NODE_PATH (tests/.cache/browser/node_modules).
"use strict";
const { check, newPage, run } = require("./browser.cjs");

run(async (browser) => {
  const want = JSON.parse(process.env.EXPECT);
  const [w, h] = process.env.VIEWPORT.split("x").map(Number);
  const phone = w < 600;
  const page = await newPage(browser, { viewport: { width: w, height: h }, isMobile: phone,
                                       hasTouch: phone, deviceScaleFactor: phone ? 2 : 1 });
  const t0 = Date.now();
  await page.goto(process.env.URL, { waitUntil: "commit" });
  // Everything the snapshot holds, on the page, within one second.
  await page.waitForFunction(([nrows, nalerts]) =>
    document.querySelectorAll("#values tbody tr").length === nrows &&
    document.querySelectorAll("#alerts tbody tr").length === nalerts,
    [want.rows.length, want.firing.length], { timeout: 1000, polling: 20 });
  const ms = Date.now() - t0;
  console.log(`snapshot on the page ${ms} ms after opening it (${w}x${h})`);

  const rows = await page.$$eval("#values tbody tr", (trs) => trs.map((t) => [t.dataset.key, t.dataset.window]));
  check(JSON.stringify(rows) === JSON.stringify(want.rows), "rows sorted by key: " + JSON.stringify(rows));
  const firing = await page.$$eval("#alerts tbody tr", (trs) => trs.map((t) =>
    [t.dataset.rule, t.dataset.key, t.querySelector(".sev").textContent]));
  check(JSON.stringify(firing) === JSON.stringify(want.firing), "firing alerts " + JSON.stringify(firing));
  check(!(await page.$(`#alerts tbody tr[data-rule="${want.resolved[0]}"][data-key="${want.resolved[1]}"]`)),
        "the resolved alert is not listed");
  check(!(await page.isVisible("#no-alerts")), "no 'No alert is firing' while alerts fire");
  check(await page.textContent("#alert-count") === String(want.firing.length), "alert count");
  const heads = await page.$$eval("#values thead th", (ths) => ths.map((t) => t.textContent));
  check(heads.includes("speed_kmh (mean)km/h") && heads.includes("occupancy_pct (mean)%"),
        "units in the headers " + JSON.stringify(heads));
  // Numbers right-aligned with tabular figures.
  const align = await page.$eval('#values tbody tr td[data-col="speed_kmh (mean)"]',
                                 (td) => [getComputedStyle(td).textAlign, getComputedStyle(td).fontVariantNumeric]);
  check(align[0] === "right" && align[1] === "tabular-nums", "numbers aligned " + align);
  check(await page.$$eval("#values tbody td.chart svg", (s) => s.length) === want.rows.length, "a chart per row");
  const pts = await page.$$eval("#map svg g[data-key]", (gs) => gs.map((g) => [g.dataset.key, g.dataset.state,
    g.querySelector("circle").getAttribute("fill")]));
  check(pts.length === want.points, "map points " + pts.length);
  for (const [rule, key, sev] of want.firing) {
    const p = pts.find((x) => x[0] === key);
    check(p && (p[1] === sev || p[1] === "CRITICAL"), `map: ${key} coloured by its alert (${p})`);
  }
  check(pts.filter((p) => p[1] === "ok").every((p) => p[2] === "#2e8540"), "map: quiet keys green");
  const note = await page.textContent("#clock-note");
  check(/event time/.test(note) && /simulated/.test(note), "the page says window ends are event time");
  check(await page.isVisible("#clock-note"), "the event-time note is visible");
  if (phone) {  // nothing wider than the screen but the tables' own scroll boxes
    const sw = await page.evaluate(() => document.documentElement.scrollWidth);
    check(sw <= w, "page width " + sw + " on a " + w + " px screen");
  }
  check(ms <= 1000, `snapshot shown after ${ms} ms`);
  console.log("SNAPSHOT");

  await page.waitForFunction((n) => Array.from(document.querySelectorAll("#values tbody td.chart svg"))
    .every((s) => s.querySelector("polyline") && s.querySelector("polyline").getAttribute("points").split(" ").length >= n),
    want.chart, { timeout: 30000 });
  await page.waitForTimeout(1300);  // the last live row highlight fades
  await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  console.log("screenshot " + process.env.SCREENSHOT);
  check(page.errors.length === 0, "page errors: " + page.errors.join("; "));
  console.log("OK");
});
