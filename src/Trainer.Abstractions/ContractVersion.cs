namespace Trainer.Abstractions;

/// <summary>Version of the contract assembly; plugins built against another major version are refused.</summary>
public static class ContractVersion
{
    /// <summary>Major version: bumped on any breaking change to the contracts.</summary>
    public const int Major = 1;
}
