using Trainer.Abstractions.Compression;

namespace Trainer.Host.Tests.Plugins;

/// <summary>An editor for requests to compressors that change no structure (the example plugin): any use fails the test.</summary>
internal sealed class UnusedEditor : IModelEditor
{
    public static UnusedEditor Instance { get; } = new();

    private static NotSupportedException Used() => new("this test's compressor must not edit the model's structure");

    public IReadOnlyList<ChannelGroupInfo> ChannelGroups => throw Used();
    public IReadOnlyList<WeightLayerInfo> Layers => throw Used();
    public ModelCost Cost => throw Used();
    public long MacsIfKept(IReadOnlyDictionary<string, int> keptChannelsByGroup) => throw Used();
    public ShrinkSummary ShrinkChannels(IReadOnlyDictionary<string, bool[]> keptChannelsByGroup) => throw Used();
    public FactorizedLayer Factorize(string layer, int rank) => throw Used();
    public LayerSamples Sample(string layer, SamplingOptions options) => throw Used();
}
