using Trainer.Host.Cli;

return TrainerCli.Run(args, Console.Out, Console.Error);
