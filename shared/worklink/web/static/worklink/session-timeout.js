// The timeout warning of a signed-in page (WCAG 2.2.1 Timing Adjustable, as GOV.UK's and NHS.UK's timeout
// warnings): worklink/base.html holds the dialog and, as the server counts it, how many seconds are left before
// the session ends idle. `warn-before` seconds before, the dialog opens: "Stay signed in" (or Escape) posts its
// form to /session/keep-alive, which starts the idle clock again; "Sign out" signs out; when time runs out the
// page goes to the one saying why. Served from a file: the Content-Security-Policy allows no inline script.
const dialog = document.getElementById('wl-timeout')
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

  const secondsLeft = () => Math.max(0, Math.ceil((endsAt - Date.now()) / 1000))
  const timer = setInterval(tick, 1000)
  tick()

  function tick () {
    const seconds = secondsLeft()
    if (seconds <= 0) return leave()
    if (!dialog.open && !dismissed && endsAt - Date.now() <= warnBefore) open(seconds)
    if (dialog.open) show(seconds)
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
      if (response.status === 401) return leave() // it ended meanwhile: the page saying why
      if (!response.ok) throw new Error(`keep-alive answered ${response.status}`)
      const kept = await response.json()
      endsAt = Date.now() + (kept.ends_in_seconds + 1) * 1000 // a second after the server's end, never before
      renewable = kept.renewable
      close()
    } catch (error) {
      problem.textContent = "Sorry, you could not be kept signed in. Try again, or save your work now."
      problem.hidden = false
      if (!dialog.open) dialog.showModal()
      announcement.textContent = problem.textContent
    }
  }

  function leave () {
    if (leaving) return
    leaving = true
    clearInterval(timer)
    const ended = new URL(dialog.dataset.endedPage, window.location.href)
    if ('returnHere' in dialog.dataset) ended.searchParams.set('next', window.location.pathname + window.location.search)
    window.location.assign(ended.href)
  }

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

function words (seconds) {
  const minutes = Math.floor(seconds / 60)
  const rest = seconds % 60
  const unit = (n, name) => `${n} ${name}${n === 1 ? '' : 's'}`
  if (!minutes) return unit(rest, 'second')
  return rest ? `${unit(minutes, 'minute')} ${unit(rest, 'second')}` : unit(minutes, 'minute')
}
