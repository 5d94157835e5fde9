// PM2 process file for a validator: `pm2 start ecosystem.config.js`.
// Edit only the arguments below: your wallet, hotkey, subnet and network.
const validatorArgs = [
  "run", "python", "validator/validator.py",
  "--netuid", "39",
  "--subtensor.network", "finney",
  "--wallet.name", "default",
  "--wallet.hotkey", "default",
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
