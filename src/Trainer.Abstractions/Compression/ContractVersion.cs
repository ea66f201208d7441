namespace Trainer.Abstractions.Compression;

/// <summary>
/// Version of the compressor plugin contract (<see cref="ICompressor"/>, <see cref="CompressionRequest"/>,
/// <see cref="CompressionResult"/>). The host refuses a plugin whose <see cref="TrainerPluginAttribute.ContractMajor"/>
/// differs from <see cref="Major"/>: a new major means the contract changed in a way old plugins cannot follow.
/// </summary>
public static class ContractVersion
{
    /// <summary>Major version of the contract this assembly defines.</summary>
    public const int Major = 1;
}
