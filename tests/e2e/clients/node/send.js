// Sends identify, track and page through a real Node.js client library, then prints
// {"identify": messageId, "track": messageId, "page": messageId} as one JSON line.
//
//   node send.js analytics-node|rudder-node <router URL> <write key> <user id>
//
// The messageIds are the ones the library generated, so the test can check the
// destination got exactly these events, each once.
'use strict'

const [library, routerUrl, writeKey, userId] = process.argv.slice(2)
if (!library || !routerUrl || !writeKey || !userId) {
  console.error('usage: node send.js analytics-node|rudder-node <router URL> <write key> <user id>')
  process.exit(2)
}

const traits = { email: 'grace@example.com', name: 'Grace Hopper', plan: 'pro' }
const track = {
  event: 'Order Completed',
  properties: { order_id: 'o-77', revenue: 42.5, products: [{ sku: 'sku-1', quantity: 2 }] },
  context: { ip: '203.0.113.9', campaign: { name: 'spring', source: 'newsletter' } },
}
const page = { category: 'Docs', name: 'Pricing', properties: { path: '/pricing', title: 'Pricing' } }

async function segmentNode() {
  const { Analytics } = require('@segment/analytics-node')
  const client = new Analytics({ writeKey, host: routerUrl, flushAt: 3, flushInterval: 500, maxRetries: 3 })
  const ids = {}
  const errors = []
  client.on('error', (err) => errors.push(String(err && (err.reason || err.code || err))))
  const sent = (type) => (err, ctx) => {
    if (err) errors.push(`${type}: ${err}`)
    else ids[type] = ctx.event.messageId
  }
  client.identify({ userId, traits }, sent('identify'))
  client.track({ userId, ...track }, sent('track'))
  client.page({ userId, ...page }, sent('page'))
  await client.closeAndFlush({ timeout: 15000 })
  return { ids, errors }
}

async function rudderNode() {
  const Analytics = require('@rudderstack/rudder-sdk-node')
  const zlib = require('zlib')
  const errors = []
  const ids = {}
  const client = new Analytics(writeKey, {
    dataPlaneUrl: routerUrl, flushAt: 3, flushInterval: 500, retryCount: 2, logLevel: 'error',
    errorHandler: (err) => errors.push(String(err)),
  })
  // each callback gets the request body the library posted (gzipped by default): read the messageIds from it
  const sent = (err, body) => {
    if (err) return errors.push(String(err))
    const data = Buffer.isBuffer(body) ? JSON.parse(zlib.gunzipSync(body)) : body
    for (const m of data.batch) ids[m.type] = m.messageId
  }
  client.identify({ userId, traits }, sent)
  client.track({ userId, ...track }, sent)
  client.page({ userId, ...page }, sent)
  await new Promise((resolve) => client.flush((err) => { if (err) errors.push(String(err)); resolve() }))
  return { ids, errors }
}

const run = { 'analytics-node': segmentNode, 'rudder-node': rudderNode }[library]
if (!run) {
  console.error(`unknown library ${library}`)
  process.exit(2)
}
run().then(({ ids, errors }) => {
  console.log(JSON.stringify({ ids, errors }))
  process.exit(errors.length ? 1 : 0)
}, (err) => {
  console.error(err && err.stack ? err.stack : String(err))
  process.exit(1)
})
