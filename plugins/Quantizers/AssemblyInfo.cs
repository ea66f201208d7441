using Trainer.Abstractions.Compression;

[assembly: TrainerPlugin(ContractMajor = ContractVersion.Major)]
