using System.Text.Json;
using Trainer.Core.Analysis;
using Trainer.Core.Tests.Graph;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Analysis;

/// <summary>
/// FlopsCounter against figures NNI v2.10's own counter wrote for the Python twins of the encoder-decoder, Conv1d,
/// concat-residual-SE, norm and PixelShuffle test models (reference/nni_counts.py, which documents how to regenerate
/// reference/nni_counts.json): every counted row (name, type, FLOPs, parameters) and the totals, in both modes.
/// </summary>
public sealed class NniCountParityTests
{
    private static readonly JsonElement Reference = JsonDocument.Parse(
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Analysis", "reference", "nni_counts.json"))).RootElement.GetProperty("models");

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var model in new[] { "UNetLike", "Conv1dNet", "ConcatResidualSeNet", "NormFollowersNet", "PixelShuffleNet" })
            foreach (var mode in new[] { "default", "full" })
                data.Add(model, mode);
        return data;
    }

    private static nn.Module<Tensor, Tensor> Create(string name) => name switch
    {
        "UNetLike" => new UNetLike(),
        "Conv1dNet" => new Conv1dNet(),
        "ConcatResidualSeNet" => new ConcatResidualSeNet(),
        "NormFollowersNet" => new NormFollowersNet(),
        "PixelShuffleNet" => new PixelShuffleNet(),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Counts_equal_NNI_row_by_row(string modelName, string mode)
    {
        var expected = Reference.GetProperty(modelName);
        var shape = expected.GetProperty("input_shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var figures = expected.GetProperty(mode);
        using var model = Create(modelName);

        var report = FlopsCounter.Count(model, shape, mode == "full" ? CountMode.Full : CountMode.Default);

        var expectedRows = figures.GetProperty("rows").EnumerateArray()
            .Select(r => (r.GetProperty("name").GetString(), r.GetProperty("type").GetString(), r.GetProperty("flops").GetInt64(),
                r.GetProperty("params").GetInt64())).ToList();
        Assert.Equal(expectedRows, report.Layers.Select(l => ((string?)l.Name, (string?)l.Type, l.Flops, l.Params)).ToList());
        Assert.Equal(figures.GetProperty("total_flops").GetInt64(), report.TotalFlops);
        Assert.Equal(figures.GetProperty("total_params").GetInt64(), report.TotalParams);
    }
}
