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

    /// <summary>Minor version: additions old plugins can ignore. 1.1 added sliced channel groups
    /// (<see cref="ChannelGroupInfo.ProducerSlices"/>, <see cref="ChannelGroupInfo.SliceConsumers"/>,
    /// <see cref="ChannelConsumer.Reads"/>) and Conv1d/3d and ConvTranspose layers (<see cref="WeightLayerInfo.Kernel"/>).
    /// 1.2 added the task's training for data-driven compressors (<see cref="CompressionRequest.Train"/>,
    /// <see cref="TaskTraining"/>).</summary>
    public const int Minor = 2;
}
