// The timeout warning of a signed-in page (WCAG 2.2.1 Timing Adjustable, as GOV.UK's and NHS.UK's timeout
// warnings): worklink/base.html holds the dialog and, as the server counts it, how many seconds are left before
// the session ends idle. `warn-before` seconds before, the dialog opens: "Stay signed in" (or Escape) posts its
// form to /session/keep-alive, which starts the idle clock again; "Sign out" signs out; when time runs out the
// page goes to the one saying why. Served from a file: the Content-Security-Policy allows no inline script.
//
// Every tab of the site counts to the same end: the session is the browser's, and a request in any tab moves
// its idle clock on. Each page (and each "Stay signed in") writes when the session ends, as the server said, to
// localStorage; the other tabs hear it (a 'storage' event, no request) and count to the later end, closing a
// warning that no longer applies. Signing out, or the session running out, is written there too, with why, and the
// other tabs go to the page saying why. Before a tab gives up it asks the server, without renewing anything, whether
// the session really ended: activity the other tabs did not write (storage off, a download) keeps it counting.
// Signing out is sent by this script: the other tabs go only once the server has ended the session, and a sign-out
// that failed says so on the page it was asked from. A page back from the back-forward cache asks the server again.
const dialog = document.getElementById('wl-timeout')
const SHARED = 'worklink.session' // { endsAt, renewable } or, once the session is over, { ended: why, at }
// Why a session ended by itself, as the server names it: the ended page can say so after another tab forgot the cookie.
const ENDED_BY_ITSELF = ['idle', 'expired']
const SIGN_OUT = ['/signout', '/signout/everywhere']
const SIGN_OUT_FAILED = 'Sorry, signing out did not work. Try again.'
if (dialog && typeof dialog.showModal === 'function') watch(dialog)

function watch (dialog) {
  const warnBefore = Number(dialog.dataset.warnBefore) * 1000
  const countdown = dialog.querySelector('[data-countdown]')
  const announcement = dialog.querySelector('[data-announce]')
  const problem = dialog.querySelector('[data-problem]')
  const keepAlive = dialog.querySelector('form[data-keep-alive]')
  let endsAt = Date.now() + Number(dialog.dataset.endsIn) * 1000
  let renewable = dialog.dataset.renewable === 'true'
  let dismissed = false // a warning of the 12 hours, closed: staying signed in cannot move that end
  let lastStep = null
  let returnFocusTo = null
  let closing = false // closed by this script, not by the browser (its close event comes later, as a task)
  let leaving = false
  let asking = false // whether the session ended, of the server
  let signingOut = false

  const secondsLeft = () => Math.max(0, Math.ceil((endsAt - Date.now()) / 1000))
  writeShared({ endsAt, renewable }) // the server's count, just made: what any tab wrote before is older
  let timer = setInterval(tick, 1000)
  tick()

  function tick () {
    if (leaving || asking) return
    const seconds = secondsLeft()
    if (seconds <= 0) return askTheServer()
    if (!dialog.open && !dismissed && endsAt - Date.now() <= warnBefore) open(seconds)
    if (dialog.open) show(seconds)
  }

  // Another tab's news: a later end (count to it; a warning that no longer applies closes), or the session over.
  function follow (shared) {
    if (!shared || leaving) return
    if (shared.ended) return leave(shared.ended)
    // A later end; or the 12 hours, which nothing moves (the session began before this page was made).
    if (!(shared.endsAt > endsAt || (shared.renewable === false && shared.endsAt < endsAt))) return
    endsAt = shared.endsAt
    renewable = shared.renewable
    if (dialog.open && endsAt - Date.now() > warnBefore) close()
  }

  function share () {
    const shared = readShared()
    if (!shared || shared.ended || !(shared.endsAt >= endsAt)) writeShared({ endsAt, renewable })
  }

  // This tab's clock ran out: unless another tab has written a later end, the server says whether the session is
  // still open (GET /session/ended as JSON only looks: it renews nothing). A page back from the back-forward cache
  // (`restored`) asks whatever its clock says: it counted nothing while it was away, and may have left the session.
  async function askTheServer (restored = false) {
    if (!restored) {
      follow(readShared())
      if (leaving || secondsLeft() > 0) return
    }
    asking = true
    try {
      const response = await fetch(dialog.dataset.endedPage, {
        headers: { Accept: 'application/json' },
        credentials: 'same-origin'
      })
      if (response.ok) {
        const open = await response.json()
        endsAt = Date.now() + (open.ends_in_seconds + 1) * 1000
        renewable = open.renewable
        if (dialog.open && endsAt - Date.now() > warnBefore) close()
        share()
      } else {
        if (response.status === 401) return ended(await reasonOf(response))
        if (!restored) leave()
      }
    } catch (error) {
      if (!restored) leave() // the page decides; a restored page counts on, and asks again when its time is up
    } finally {
      asking = false
    }
    tick()
  }

  function open (seconds) {
    returnFocusTo = document.activeElement
    for (const only of dialog.querySelectorAll('[data-renewable-only]')) only.hidden = !renewable
    for (const only of dialog.querySelectorAll('[data-final-only]')) only.hidden = renewable
    problem.hidden = true
    lastStep = null
    show(seconds) // before it opens: its description then holds the time, read out as focus moves in
    dialog.showModal()
    dialog.querySelector(renewable ? '[data-keep-alive] button' : '[data-close]').focus()
  }

  // What people see changes every second; what a screen reader is told (a polite live region) only each
  // minute, then every 20 seconds of the last minute, so it does not talk over everything else.
  function show (seconds) {
    const sentence = `You'll be signed out in ${words(seconds)}.`
    countdown.textContent = sentence
    const step = seconds > 60 ? Math.ceil(seconds / 60) * 60 : Math.ceil(seconds / 20) * 20
    if (step !== lastStep) {
      announcement.textContent = sentence
      lastStep = step
    }
  }

  function close () {
    if (dialog.open) {
      closing = true
      dialog.close()
    }
    if (!renewable) dismissed = true
    if (returnFocusTo && document.contains(returnFocusTo)) returnFocusTo.focus()
  }

  async function stay () {
    problem.hidden = true
    try {
      const response = await fetch(keepAlive.action, {
        method: 'POST',
        body: new URLSearchParams(new FormData(keepAlive)),
        headers: { Accept: 'application/json' },
        credentials: 'same-origin'
      })
      if (response.status === 401) return ended(await reasonOf(response)) // it ended meanwhile: the page saying why
      if (!response.ok) throw new Error(`keep-alive answered ${response.status}`)
      const kept = await response.json()
      endsAt = Date.now() + (kept.ends_in_seconds + 1) * 1000 // a second after the server's end, never before
      renewable = kept.renewable
      share()
      close()
    } catch (error) {
      problem.textContent = "Sorry, you could not be kept signed in. Try again, or save your work now."
      problem.hidden = false
      if (!dialog.open) dialog.showModal()
      announcement.textContent = problem.textContent
    }
  }

  // The session is over (the server said 401): the other tabs go too. Without a reason (the cookie was already gone:
  // another tab's ended page forgot it) the reason another tab wrote stands, rather than a vaguer one over it.
  function ended (reason) {
    const why = [reason, readShared()?.ended].find(known => ENDED_BY_ITSELF.includes(known)) || reason
    writeShared({ ended: why || 'ended', at: Date.now() })
    leave(why)
  }

  // To the page saying why: with the reason, if the session ended by itself - that page reads it from the session's
  // cookie, but a tab that ran out at the same moment may have had its ended page forget the cookie already.
  function leave (why) {
    if (leaving) return
    leaving = true
    clearInterval(timer)
    const ended = new URL(dialog.dataset.endedPage, window.location.href)
    if ('returnHere' in dialog.dataset) ended.searchParams.set('next', window.location.pathname + window.location.search)
    if (ENDED_BY_ITSELF.includes(why)) ended.searchParams.set('why', why)
    window.location.assign(ended.href)
  }

  // Sent by the script, not by the browser: the other tabs are told only once the server has ended the session (it
  // answers a sign-out by sending the browser on), and a sign-out that failed - the network, the server - says so
  // here, on the page, instead of an error page (the session is still open, the other tabs stay where they are).
  async function signOut (form) {
    if (signingOut) return
    signingOut = true
    let signedOut = false
    try {
      const response = await fetch(form.action, {
        method: 'POST',
        body: new URLSearchParams(new FormData(form)),
        headers: { Accept: 'text/html' },
        credentials: 'same-origin',
        keepalive: true // sent even if the tab is closed straight after, as the form's own request would be
      })
      signedOut = response.redirected // a refusal or a failure is a page of its own, never a redirect
      if (signedOut) {
        writeShared({ ended: 'signed-out', at: Date.now() })
        leaving = true
        clearInterval(timer)
        window.location.assign(response.url)
      }
    } catch (error) {
      // the network failed: said below, as a refusal is
    }
    if (signedOut) return // (a second click meanwhile sends nothing: the page is on its way)
    signingOut = false
    signOutFailed()
  }

  function signOutFailed () {
    if (dialog.open) { // the page behind a modal dialog cannot be read: the dialog says it
      problem.textContent = SIGN_OUT_FAILED
      problem.hidden = false
      announcement.textContent = SIGN_OUT_FAILED
      return
    }
    const failed = document.getElementById('wl-sign-out-problem') || signOutProblem()
    failed.focus() // as an error summary takes focus: read first, then Tab on to try again
  }

  // An error summary above the page, made only when needed: a hidden one in every page would be a second error
  // summary beside a form's own.
  function signOutProblem () {
    const failed = document.createElement('div')
    failed.id = 'wl-sign-out-problem'
    failed.className = 'nhsuk-error-summary'
    failed.tabIndex = -1
    failed.setAttribute('role', 'alert')
    failed.setAttribute('aria-labelledby', 'wl-sign-out-problem-title')
    const title = document.createElement('h2')
    title.id = 'wl-sign-out-problem-title'
    title.className = 'nhsuk-error-summary__title'
    title.textContent = 'Sorry, signing out did not work'
    const body = document.createElement('p')
    body.className = 'nhsuk-error-summary__body'
    body.textContent = 'You may still be signed in. Try again.'
    failed.append(title, body)
    const main = document.getElementById('maincontent') || document.body
    main.prepend(failed)
    return failed
  }

  // Back from the back-forward cache: the page's count stopped while it was away, and it may have left (its session
  // over, or signed out) and stopped counting for good. It counts again, from what the server says now.
  function restore () {
    leaving = false
    asking = false
    signingOut = false
    clearInterval(timer)
    timer = setInterval(tick, 1000)
    askTheServer(true)
  }

  window.addEventListener('storage', event => {
    if (event.key === SHARED) follow(parse(event.newValue))
  })
  window.addEventListener('pageshow', event => { if (event.persisted) restore() })
  document.addEventListener('submit', event => {
    const form = event.target
    if (event.defaultPrevented || !SIGN_OUT.includes(new URL(form.action, window.location.href).pathname)) return
    event.preventDefault()
    signOut(form)
  })
  keepAlive.addEventListener('submit', event => {
    event.preventDefault()
    stay()
  })
  dialog.querySelector('[data-close]').addEventListener('click', close)
  dialog.addEventListener('cancel', event => { // Escape: stay signed in (or, at the 12 hours, just close)
    event.preventDefault()
    if (renewable) stay()
    else close()
  })
  // A browser may close a modal dialog on a second Escape without a cancel event: that is staying too.
  dialog.addEventListener('close', () => {
    if (closing || leaving) {
      closing = false
      return
    }
    if (renewable) stay()
    else close()
  })
}

// localStorage may be off or full (a privacy setting, a sandbox): then each tab counts alone, and asks the server.
function readShared () {
  try {
    return parse(window.localStorage.getItem(SHARED))
  } catch (error) {
    return null
  }
}

function writeShared (value) {
  try {
    window.localStorage.setItem(SHARED, JSON.stringify(value))
  } catch (error) {}
}

// A 401 problem's reason (idle, expired, signed_out, everywhere), if it gives one.
async function reasonOf (response) {
  try {
    return (await response.json()).reason
  } catch (error) {
    return undefined
  }
}

function parse (text) {
  try {
    const value = JSON.parse(text)
    return value && typeof value === 'object' ? value : null
  } catch (error) {
    return null
  }
}

function words (seconds) {
  const minutes = Math.floor(seconds / 60)
  const rest = seconds % 60
  const unit = (n, name) => `${n} ${name}${n === 1 ? '' : 's'}`
  if (!minutes) return unit(rest, 'second')
  return rest ? `${unit(minutes, 'minute')} ${unit(rest, 'second')}` : unit(minutes, 'minute')
}
