// kafkajs 2.2.4 driver for wiretwin's Kafka conformance tests.
//
//   node driver.js produce '<json spec>'   one producer per send: {brokers, topic, sends: [{acks, compression,
//                                           idempotent, messages: [{partition, key, value, timestamp, headers}]}]}
//   node driver.js admin '<json spec>'     the admin steps below: {brokers, topic, other, records}
//   node driver.js group-consume '<json spec>'   {brokers, topic, groupId, members, expect, timeoutMs}: `members`
//                                           consumers of one group read `topic` from the beginning, each committing
//                                           every record after processing it; prints a `split` step once every
//                                           member holds a share of the partitions, and when `expect` records are
//                                           in, all disconnect (LeaveGroup)
//
// Every step prints one JSON line {step, ...}; errors print {step, error: {name, type, code}}.
'use strict'

const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const LZ4Codec = require('kafkajs-lz4')

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
CompressionCodecs[CompressionTypes.LZ4] = new LZ4Codec().codec

const CODECS = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
}

const out = obj => process.stdout.write(JSON.stringify(obj) + '\n')

const describeError = e => ({
  name: e.name,
  type: e.type,
  code: e.code,
  errors: e.errors ? e.errors.map(describeError) : undefined,
  partitions: e.partitions
    ? e.partitions.map(p => ({ partition: p.partition, error: p.error && describeError(p.error) }))
    : undefined,
  cause: e.cause ? describeError(e.cause) : undefined,
})

async function step(name, fn) {
  try {
    out({ step: name, result: await fn() })
  } catch (e) {
    out({ step: name, error: describeError(e) })
  }
}

function client(spec) {
  return new Kafka({
    clientId: 'wiretwin-kafkajs',
    brokers: spec.brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 3, initialRetryTime: 50, maxRetryTime: 500 },
  })
}

async function produce(spec) {
  const kafka = client(spec)
  for (const [i, send] of spec.sends.entries()) {
    const producer = kafka.producer({
      idempotent: !!send.idempotent,
      maxInFlightRequests: send.idempotent ? 1 : undefined,
      allowAutoTopicCreation: false,
    })
    await producer.connect()
    await step(`send-${i}`, () =>
      producer.send({
        topic: spec.topic,
        acks: send.acks,
        compression: CODECS[send.compression],
        messages: send.messages.map(m => ({
          partition: m.partition,
          key: m.key,
          value: m.value,
          timestamp: String(m.timestamp),
          headers: m.headers,
        })),
      })
    )
    await producer.disconnect()
  }
}

async function admin(spec) {
  const kafka = client(spec)
  const admin = kafka.admin()
  await admin.connect()
  const { topic, other } = spec
  await step('create', () =>
    admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], timeout: 5000 })
  )
  await step('create-again', () =>
    admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], timeout: 5000 })
  )
  await step('create-bad-rf', () =>
    admin.createTopics({ topics: [{ topic: other, numPartitions: 1, replicationFactor: 3 }], timeout: 5000 })
  )
  await step('create-bad-name', () =>
    admin.createTopics({ topics: [{ topic: 'bad name!', numPartitions: 1, replicationFactor: 1 }], timeout: 5000 })
  )
  await step('create-partitions', () => admin.createPartitions({ topicPartitions: [{ topic, count: 4 }] }))
  await step('create-partitions-fewer', () => admin.createPartitions({ topicPartitions: [{ topic, count: 3 }] }))
  await step('metadata', () => admin.fetchTopicMetadata({ topics: [topic] }))
  await step('list', () => admin.listTopics())

  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  await step('produce', () =>
    producer.send({
      topic,
      acks: -1,
      messages: spec.records.map(m => ({ partition: m.partition, key: m.key, value: m.value,
                                         timestamp: String(m.timestamp), headers: m.headers })),
    })
  )
  await producer.disconnect()

  await step('delete-records', () =>
    admin.deleteTopicRecords({ topic, partitions: [{ partition: 3, offset: '2' }] })
  )
  await step('delete-records-beyond', () =>
    admin.deleteTopicRecords({ topic, partitions: [{ partition: 3, offset: '99' }] })
  )
  await step('offsets', () => admin.fetchTopicOffsets(topic))
  await step('offsets-by-timestamp', () => admin.fetchTopicOffsetsByTimestamp(topic, spec.timestamp))
  await step('cluster', () => admin.describeCluster())
  await step('delete', () => admin.deleteTopics({ topics: [topic], timeout: 5000 }))
  await step('list-after', () => admin.listTopics())
  await step('delete-again', () => admin.deleteTopics({ topics: [topic], timeout: 5000 }))
  await admin.disconnect()
}

async function groupConsume(spec) {
  const kafka = client(spec)
  const consumed = []
  const joins = []
  const latest = new Map()
  let split = false
  let done
  const allIn = new Promise(resolve => { done = resolve })
  const consumers = []
  for (let i = 0; i < spec.members; i++) {
    const consumer = kafka.consumer({ groupId: spec.groupId, sessionTimeout: 6000, heartbeatInterval: 500,
                                      maxWaitTimeInMs: 100, retry: { retries: 5 } })
    consumer.on(consumer.events.GROUP_JOIN, e => {
      const assignment = e.payload.memberAssignment[spec.topic] || []
      joins.push({ member: i, groupProtocol: e.payload.groupProtocol, isLeader: e.payload.isLeader, assignment })
      latest.set(i, assignment)
      const shares = [...latest.values()]
      const owned = shares.flat()
      if (!split && latest.size === spec.members && shares.every(a => a.length > 0) &&
          new Set(owned).size === owned.length) {
        split = true
        out({ step: 'split', result: Object.fromEntries(latest) })
      }
    })
    await consumer.connect()
    await consumer.subscribe({ topics: [spec.topic], fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        consumed.push({ member: i, partition, offset: Number(message.offset), value: message.value.toString() })
        await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }])
        if (consumed.length >= spec.expect) done()
      },
    })
    consumers.push(consumer)
  }
  const timer = setTimeout(done, spec.timeoutMs)
  await allIn
  clearTimeout(timer)
  for (const consumer of consumers) await consumer.disconnect()
  out({ step: 'joins', result: joins })
  out({ step: 'consumed', result: consumed })
}

const scenarios = { produce, admin, 'group-consume': groupConsume }

async function main() {
  const [scenario, json] = process.argv.slice(2)
  if (!scenarios[scenario]) throw new Error(`unknown scenario ${scenario}`)
  await scenarios[scenario](JSON.parse(json))
}

main().then(
  () => process.exit(0),
  e => {
    process.stderr.write(String(e && e.stack ? e.stack : e) + '\n')
    process.exit(1)
  }
)
