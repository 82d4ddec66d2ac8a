// A local atproto stack for postmast's tests: an in-memory did:plc directory (@did-plc/server)
// and the reference PDS (@atproto/pds), both on 127.0.0.1 only. Ports from PLC_PORT / PDS_PORT.
// Writes {"pdsUrl", "plcUrl"} to READY_FILE once both answer; stops cleanly on SIGTERM.
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import fs from 'node:fs'

// The servers listen on every interface by default: force loopback.
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
    const callbacks = args.slice(1).filter((a) => typeof a === 'function')
    return listen.call(this, Number(args[0]), '127.0.0.1', ...callbacks)
  }
  return listen.apply(this, args)
}

const plc = await import('@did-plc/server')
const { PDS } = await import('@atproto/pds')
const { Secp256k1Keypair } = await import('@atproto/crypto')

const plcPort = Number(process.env.PLC_PORT), pdsPort = Number(process.env.PDS_PORT)
const plcServer = plc.PlcServer.create({ db: plc.Database.mock(), port: plcPort })
await plcServer.start()

const rotation = await Secp256k1Keypair.create({ exportable: true })
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'postmast-pds-'))
const pds = await PDS.fromEnv({
  devMode: true,
  port: pdsPort,
  hostname: 'localhost',
  dataDirectory: dataDir,
  blobstoreDiskLocation: path.join(dataDir, 'blobs'),
  didPlcUrl: `http://localhost:${plcPort}`,
  recoveryDidKey: (await Secp256k1Keypair.create()).did(),
  plcRotationKeyK256PrivateKeyHex: Buffer.from(await rotation.export()).toString('hex'),
  adminPassword: 'admin-pass',
  jwtSecret: process.env.PDS_JWT_SECRET || 'jwt-secret',
  serviceHandleDomains: ['.test'],
  inviteRequired: false,
  disableSsrfProtection: true,
  bskyAppViewUrl: 'https://appview.invalid',
  bskyAppViewDid: 'did:example:invalid',
  modServiceUrl: 'https://moderator.invalid',
  modServiceDid: 'did:example:invalid',
  ...(process.env.PDS_RATE_LIMITS_ENABLED === 'true' ? { rateLimitsEnabled: true } : {}),
})
await pds.start()

const info = { pdsUrl: `http://127.0.0.1:${pdsPort}`, plcUrl: `http://127.0.0.1:${plcPort}` }
console.log(JSON.stringify(info))
if (process.env.READY_FILE) fs.writeFileSync(process.env.READY_FILE, JSON.stringify(info))

const stop = async () => {
  await pds.destroy()
  await plcServer.destroy()
  fs.rmSync(dataDir, { recursive: true, force: true })
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
