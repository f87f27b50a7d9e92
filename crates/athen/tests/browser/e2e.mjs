// The whole flow of the web app in Debian's headless Chromium, as a
// practice manager goes through it: register → the welcome letter (printed
// by the administrator) → confirm with its code → sign in → write to
// another practice about a patient → that practice reads it with its HL7
// file → the sender sees "read" in the timeline. Every main page is
// checked with axe-core (WCAG 2.1 A and AA) and photographed.
//
// Run by crates/athen/tests/browser.rs with BASE (the server's address),
// ATHEN (the binary), DATA (its data directory), SHOTS (where screenshots
// go) and PASSWORD (the other practice's). Prints one JSON line of results.

import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const { BASE, ATHEN, DATA, SHOTS, PASSWORD } = process.env;
const results = { axe: {}, steps: [] };
let current = null; // the page in use, photographed if a step fails

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

// A phone-sized window too: the pages must work there.
async function context(width = 1024, height = 900) {
  // bypassCSP only so that axe-core can be injected; the pages' own
  // policy is checked by the HTTP tests.
  return browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true, viewport: { width, height } });
}

async function check(page, name) {
  current = page;
  await page.addScriptTag({ content: axeSource });
  const r = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
  results.axe[name] = r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

try {
  // 1. Register a practice.
  const ctx = await context();
  const page = await ctx.newPage();
  await page.goto(`${BASE}/`);
  await check(page, 'home');
  await page.getByRole('link', { name: 'Join ATHEN' }).click();
  await page.getByRole('link', { name: 'A practice, clinic or hospital' }).click();
  await check(page, 'register');
  await page.getByLabel('Name of the practice or organisation').fill('Northside Medical Centre');
  await page.getByLabel('Kind of service').selectOption('general-practice');
  await page.getByLabel('Street address').fill('1 Main Street');
  await page.getByLabel('Suburb or town').fill('Northside');
  await page.getByLabel('State or territory').selectOption('NSW');
  await page.getByLabel('Postcode').fill('3000'); // not in NSW: shown beside the field
  await page.getByLabel('Phone', { exact: false }).first().fill('02 9999 1234');
  await page.getByLabel('Password (at least 10 characters)').fill('northside secret 1');
  await page.getByLabel('The same password again').fill('northside secret 1');
  await page.getByRole('button', { name: 'Register' }).click();
  results.steps.push(['postcode refused', await page.locator('#postcode-error').textContent()]);
  await check(page, 'register-problems');
  await page.getByLabel('Postcode').fill('2999');
  await page.getByLabel('Password (at least 10 characters)').fill('northside secret 1');
  await page.getByLabel('The same password again').fill('northside secret 1');
  await page.getByRole('button', { name: 'Register' }).click();
  await page.getByRole('heading', { name: 'Your account is ready' }).waitFor();
  const address = await page.locator('main p strong').first().textContent();
  results.steps.push(['registered', address]);
  await check(page, 'recovery-code');

  // 2. The administrator prints the welcome letter; the code is read from the PDF.
  const pdf = path.join(DATA, 'welcome-letters.pdf');
  execFileSync(ATHEN, ['admin', '--data-dir', DATA, 'letters', 'print', '--out', pdf,
    '--confirm-url', `${BASE}/confirm`]);
  const letter = execFileSync('pdftotext', ['-layout', pdf, '-']).toString();
  // One page a letter; ours is the one with our address.
  const ours = letter.split('\f').find((p) => p.includes(address));
  const code = ours.split('Your confirmation code')[1].trim().split('\n')[0].replace(/\s+/g, '');
  results.steps.push(['letter code length', code.length]);
  const page_no = String(letter.split('\f').indexOf(ours) + 1);
  execFileSync('pdftoppm', ['-png', '-r', '60', '-f', page_no, '-l', page_no, '-singlefile', pdf,
    path.join(SHOTS, 'welcome-letter')]);

  // 3. Confirm with the code.
  await page.goto(`${BASE}/confirm`);
  await check(page, 'confirm');
  await page.getByLabel('Your ATHEN address').fill(address);
  await page.getByLabel('Confirmation code from the letter').fill(code);
  await page.getByRole('button', { name: 'Confirm' }).click();
  results.steps.push(['confirmed', await page.getByRole('status').textContent()]);

  // 4. Sign in and write to Jane about a patient.
  await page.goto(`${BASE}/login`);
  await check(page, 'sign-in');
  await page.getByLabel('Your ATHEN address or staff login').fill(address);
  await page.getByLabel('Password').fill('northside secret 1');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Inbox' }).waitFor();
  await check(page, 'inbox-empty');
  await page.getByRole('link', { name: 'Write a letter' }).click();
  // The directory suggestion (the page's one script) offers Jane.
  await page.getByLabel('To (ATHEN or e-mail addresses').fill('Jane');
  await page.waitForFunction(() => document.querySelectorAll('#directory-suggestions option').length > 0, null, { timeout: 10000 });
  const suggested = await page.locator('#directory-suggestions option').first().getAttribute('value');
  results.steps.push(['suggested', suggested]);
  await page.getByLabel('To (ATHEN or e-mail addresses').fill(suggested);
  await page.getByLabel('Family name').fill("O'Brien");
  await page.getByLabel('Given names').fill('Sean');
  await page.getByLabel('Sex').selectOption('M');
  await page.getByLabel('Date of birth').fill('01/02/1960');
  await page.getByLabel('Medicare number').fill('2123 45670 1');
  await page.getByLabel('Subject').fill('Referral: chest pain');
  await page.getByLabel('Letter').fill('Dear Dr Citizen,\n\nPlease see Sean about his chest pain.\n\nNorthside Medical Centre');
  await check(page, 'compose');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByText('Your letter was sent').waitFor();
  await check(page, 'sent');
  await ctx.close();

  // 5. Jane, on a phone-sized screen, reads it with its HL7 file.
  const phone = await context(390, 844);
  const jane = await phone.newPage();
  await jane.goto(`${BASE}/login`);
  await jane.getByLabel('Your ATHEN address or staff login').fill('jane@athen.localhost');
  await jane.getByLabel('Password').fill(PASSWORD);
  await jane.getByRole('button', { name: 'Sign in' }).click();
  await jane.getByRole('heading', { name: 'Inbox' }).waitFor();
  await check(jane, 'inbox-phone');
  await jane.getByRole('link', { name: /O'BRIEN, Sean/ }).click();
  const files = await jane.locator('ul.attachments a').allTextContents();
  results.steps.push(['files', files]);
  await check(jane, 'letter');
  await phone.close();

  // 6. Northside sees "read" in the timeline.
  const again = await context();
  const np = await again.newPage();
  await np.goto(`${BASE}/login`);
  await np.getByLabel('Your ATHEN address or staff login').fill(address);
  await np.getByLabel('Password').fill('northside secret 1');
  await np.getByRole('button', { name: 'Sign in' }).click();
  let status = '';
  for (let i = 0; i < 60 && status !== 'read'; i++) {
    await np.goto(`${BASE}/mail/Sent`);
    status = (await np.locator('td[class^="status-"]').first().textContent()).trim();
    if (status !== 'read') await np.waitForTimeout(500);
  }
  results.steps.push(['sent status', status]);
  await np.getByRole('link', { name: /O'BRIEN, Sean/ }).click();
  await np.getByRole('link', { name: 'What happened to this letter' }).click();
  const timeline = await np.locator('tbody tr td:nth-child(2)').allTextContents();
  results.steps.push(['timeline', timeline]);
  await check(np, 'timeline');
  // 7. Northside finds the letter again by its patient, and keeps a draft.
  await np.getByRole('link', { name: 'Search' }).click();
  await np.getByLabel('Patient, correspondent or subject').fill("O'Brien");
  await np.getByRole('button', { name: 'Search' }).click();
  results.steps.push(['found', await np.locator('tbody tr').count()]);
  await check(np, 'search');
  await np.getByRole('link', { name: 'Write a letter' }).click();
  await np.getByLabel('Subject').fill('Follow-up for Sean');
  await np.getByRole('button', { name: 'Save as draft' }).click();
  await np.getByText('Your draft was saved').waitFor();
  await check(np, 'drafts');
  // 8. Two-step sign-in: the settings page and the set-up page with its QR code.
  await np.getByRole('link', { name: 'Settings' }).click();
  await np.getByRole('link', { name: 'Two-step sign-in' }).click();
  await check(np, 'two-step');
  await np.getByLabel('Your current password').fill('northside secret 1');
  await np.getByRole('button', { name: 'Set up two-step sign-in' }).click();
  await np.getByRole('img', { name: /QR code/ }).waitFor();
  await check(np, 'two-step-setup');
  await again.close();

  // 9. The administrator's pages.
  const ops = await context();
  const op = await ops.newPage();
  await op.goto(`${BASE}/admin/login`);
  await check(op, 'admin-sign-in');
  await op.getByLabel('Administrator user name').fill('ops');
  await op.getByLabel('Password').fill('operator passphrase 1');
  await op.getByRole('button', { name: 'Sign in' }).click();
  await op.getByRole('heading', { name: 'Server' }).waitFor();
  await check(op, 'admin-server');
  await op.getByRole('link', { name: 'Accounts', exact: true }).click();
  await check(op, 'admin-accounts');
  await op.getByRole('link', { name: 'Welcome letters' }).click();
  await check(op, 'admin-letters');
  await op.getByRole('link', { name: 'Outgoing mail' }).click();
  await check(op, 'admin-queue');
  await ops.close();
} catch (e) {
  results.error = String(e && e.stack || e);
  if (current) {
    results.failed_at = current.url();
    results.failed_text = (await current.locator('main').textContent().catch(() => '')).slice(0, 2000);
    await current.screenshot({ path: path.join(SHOTS, 'failure.png'), fullPage: true }).catch(() => {});
  }
} finally {
  await browser.close();
  console.log(JSON.stringify(results));
}
