// PM2 process file for a validator: `pm2 start ecosystem.config.js`.
// Edit only the arguments below: your wallet, hotkey, subnet and network. "local" is the embedded chain
// under --data_dir; the real subnet is "finney" with --netuid 39 (or "local" plus
// "--subtensor.chain_endpoint", "ws://127.0.0.1:9944" for your own subtensor node). Hugging Face
// downloads need no token; set HF_TOKEN in the environment PM2 starts from to raise the Hub's limits.
const validatorArgs = [
  "run", "python", "validator/validator.py",
  "--netuid", "39",
  "--subtensor.network", "local",
  "--wallet.name", "default",
  "--wallet.hotkey", "default",
  "--data_dir", "data",
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
    },
  ],
};
