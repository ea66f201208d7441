namespace Trainer.Abstractions.Compression;

/// <summary>
/// A model compressor, built in or loaded from a plugin. The host finds every public, non-abstract class implementing
/// this interface with a public parameterless constructor in a plugin assembly and creates one instance of each.
/// </summary>
/// <remarks>
/// A plugin compiles against Trainer.Abstractions and TorchSharp without bundling them (the host shares its own
/// copies, so tensors and modules cross the boundary as the same types), and carries
/// <c>[assembly: TrainerPlugin(ContractMajor = ContractVersion.Major)]</c>.
/// </remarks>
public interface ICompressor
{
    /// <summary>The name configuration uses to pick this compressor (e.g. "weight-rounding"). Unique across plugins.</summary>
    string Name { get; }

    /// <summary>
    /// Compresses <see cref="CompressionRequest.Model"/>. May modify the request's model in place; the caller uses
    /// <see cref="CompressionResult.Model"/> afterwards, which may be the same instance or a new one.
    /// Throws when the request cannot be honoured (unsupported layer, bad setting), with a message naming why.
    /// </summary>
    CompressionResult Compress(CompressionRequest request);

    /// <summary>True when the compressor honours <see cref="CompressionRequest.GroupKeepRatios"/>: the host prepares a core
    /// allocation (and the latency table it may need) only for compressors that use it.</summary>
    bool UsesGroupKeepRatios => false;

    /// <summary>Checks the settings before any work is spent (latency tables, sampling); throws
    /// <see cref="ArgumentException"/> naming an unknown or bad key. By default accepts anything.</summary>
    void CheckSettings(IReadOnlyDictionary<string, string> settings)
    {
    }
}
