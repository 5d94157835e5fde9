// PM2 process file for a validator and its leaderboard page: `pm2 start ecosystem.config.js`, then
// `pm2 logs edge-validator` (or `pm2 start ecosystem.config.js --only edge-validator` without the page).
//
// Edit only `settings`: your wallet, hotkey, subnet and network, and where the page listens.
// - network "local" is the embedded chain under dataDir; the real subnet is "finney" with netuid 39;
//   your own subtensor node is "local" with chainEndpoint "ws://127.0.0.1:9944".
// - Hugging Face downloads need no token; export HF_TOKEN before `pm2 start` to raise the Hub's limits.
// The validator runs a day at 12:00 America/New_York (and at once if it owes one), sets weights again
// every tempo, and resumes an interrupted day after a restart. PM2 restarts it after a crash, with an
// exponential back-off, and gives it 30 s to stop cleanly on `pm2 stop`. The page (edge-leaderboard) serves
// what the validator publishes under dataDir; pageHost "0.0.0.0" makes it reachable from other machines.
// rayAddress "local" spreads the judging over one Ray host per GPU of this machine (docs/validating.md).
// rayHeadIp (this machine's private address) starts a Ray head as edge-ray-head beside the validator, with
// token authentication, for GPU machines to join (docs/validating.md#hosts-on-other-machines); the
// validator then judges on the whole cluster. Never give it a public address.
// metricsPort (e.g. "9108") serves Prometheus metrics on 127.0.0.1 (docs/validating.md#metrics).
// autoupdate true: between days, fast-forward this checkout, `make setup`, and exit for PM2 to restart
// (docs/validating.md#auto-update); autoupdateSigningKey takes only commits that GPG key signed.
const settings = {
  netuid: "39",
  network: "local",
  chainEndpoint: "",
  walletName: "default",
  walletHotkey: "default",
  walletPath: "~/.bittensor/wallets",
  dataDir: "data",
  pageHost: "127.0.0.1",
  pagePort: "8090",
  rayAddress: "",
  rayHeadIp: "",
  rayHeadPort: "6379",
  metricsPort: "",
  autoupdate: false,
  autoupdateSigningKey: "",
};

const rayHead = settings.rayHeadIp ? `${settings.rayHeadIp}:${settings.rayHeadPort}` : "";
const rayAddress = rayHead || settings.rayAddress;
// An unauthenticated Ray cluster runs any code sent to it: every Ray process here checks the shared token.
const rayEnvironment = rayHead ? { RAY_AUTH_MODE: "token" } : {};

const validatorArgs = [
  "run", "python", "validator/validator.py",
  "--netuid", settings.netuid,
  "--subtensor.network", settings.network,
  ...(settings.chainEndpoint ? ["--subtensor.chain_endpoint", settings.chainEndpoint] : []),
  "--wallet.name", settings.walletName,
  "--wallet.hotkey", settings.walletHotkey,
  "--wallet.path", settings.walletPath,
  "--data_dir", settings.dataDir,
  ...(rayAddress ? ["--ray.address", rayAddress] : []),
  ...(settings.metricsPort ? ["--metrics.port", settings.metricsPort] : []),
  ...(settings.autoupdate ? ["--autoupdate"] : []),
  ...(settings.autoupdateSigningKey ? ["--autoupdate.signing_key", settings.autoupdateSigningKey] : []),
  "--logging.debug",
];

module.exports = {
  apps: [
    {
      name: "edge-validator",
      script: "poetry",
      args: validatorArgs,
      interpreter: "none",
      cwd: __dirname,
      autorestart: true,
      exp_backoff_restart_delay: 1000,
      kill_timeout: 30000,
      env: rayEnvironment,
    },
    {
      name: "edge-leaderboard",
      script: "poetry",
      args: [
        "run", "python", "-m", "contest.site.server",
        "--data_dir", settings.dataDir,
        "--host", settings.pageHost,
        "--port", settings.pagePort,
      ],
      interpreter: "none",
      cwd: __dirname,
      autorestart: true,
      exp_backoff_restart_delay: 1000,
    },
    ...(rayHead
      ? [
          {
            name: "edge-ray-head",
            script: "bash",
            args: [
              "-c",
              "poetry run ray get-auth-token --generate > /dev/null && exec poetry run ray start --head --block " +
                `--node-ip-address ${settings.rayHeadIp} --port ${settings.rayHeadPort} --include-dashboard false`,
            ],
            interpreter: "none",
            cwd: __dirname,
            autorestart: true,
            exp_backoff_restart_delay: 1000,
            env: rayEnvironment,
          },
        ]
      : []),
  ],
};
