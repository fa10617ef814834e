// What every browser check here shares: Debian's Chromium ($CHROMIUM) through
// playwright-core, headless; pages that record script errors; check(); and
// the ending the Python side reads: "FAIL <why>" and exit status 1 on any
// error (a script prints OK itself once everything it checks holds).
"use strict";
const { chromium } = require("playwright-core");

function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
}

// A new page whose uncaught exceptions and console errors collect in
// page.errors, for the check that a page ran without error.
async function newPage(browser, options) {
  const page = await browser.newPage(options);
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") page.errors.push(m.text()); });
  return page;
}

// Runs body(browser) with a launched browser, closed whatever happens.
function run(body) {
  (async () => {
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    try {
      await body(browser);
    } finally {
      await browser.close();
    }
  })().catch((e) => {
    console.log("FAIL " + (e && e.message ? e.message : e));
    process.exitCode = 1;
  });
}

module.exports = { check, newPage, run };
