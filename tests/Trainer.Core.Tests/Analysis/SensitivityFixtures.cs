using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Analysis;

/// <summary>
/// conv1 (1→4) → ReLU → conv2 (4→5) → ReLU → flatten → fc (80→3) on 4×4 inputs, with weights set so the
/// L1 ranking of the filters is known: conv1 filter norms 3, 1, 4, 2 (×9 weights); conv2 norms 2, 5, 2, 1, 3
/// where filter 2 is filter 0 negated (an exact tie).
/// </summary>
internal sealed class TinyNet : nn.Module<Tensor, Tensor>
{
    public readonly Conv2d conv1, conv2;
    private readonly ReLU relu1, relu2;
    private readonly Flatten flatten;
    public readonly Linear fc;

    public static readonly double[] Conv1Norms = [3, 1, 4, 2];
    public static readonly double[] Conv2Norms = [2, 5, 2, 1, 3];

    public TinyNet() : base(nameof(TinyNet))
    {
        conv1 = nn.Conv2d(1, 4, 3, padding: 1);
        relu1 = nn.ReLU();
        conv2 = nn.Conv2d(4, 5, 3, padding: 1);
        relu2 = nn.ReLU();
        flatten = nn.Flatten();
        fc = nn.Linear(5 * 4 * 4, 3);
        RegisterComponents();

        using var gen = new Generator(7);
        using var _ = no_grad();
        SetNorms(conv1.weight, Conv1Norms, gen);
        SetNorms(conv2.weight, Conv2Norms, gen);
        conv2.weight[2].copy_(-conv2.weight[0]);
        fc.weight.copy_(randn(fc.weight.shape, generator: gen) * 0.1);
        conv1.bias!.copy_(tensor(new float[] { 0.1f, 0.2f, -0.3f, 0.4f }));
        conv2.bias!.copy_(tensor(new float[] { 0.05f, -0.1f, 0.15f, 0.2f, -0.25f }));
        fc.bias!.copy_(tensor(new float[] { 0.3f, -0.2f, 0.1f }));
    }

    private static void SetNorms(Parameter weight, double[] norms, Generator gen)
    {
        var r = randn(weight.shape, generator: gen);
        for (var i = 0; i < norms.Length; i++)
            weight[i].copy_(r[i] / r[i].abs().sum() * norms[i]);
    }

    public override Tensor forward(Tensor x) =>
        fc.call(flatten.call(relu2.call(conv2.call(relu1.call(conv1.call(x))))));

    /// <summary>A fixed input batch of two 1×4×4 images.</summary>
    public static Tensor Input()
    {
        using var gen = new Generator(11);
        return randn([2, 1, 4, 4], generator: gen);
    }
}

internal static class ModelBits
{
    /// <summary>Every parameter and buffer as raw bit patterns, by name.</summary>
    public static Dictionary<string, int[]> Snapshot(nn.Module model)
    {
        var bits = new Dictionary<string, int[]>();
        foreach (var (name, t) in model.state_dict())
            bits[name] = t.detach().contiguous().data<float>().ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();
        return bits;
    }

    public static void AssertSame(Dictionary<string, int[]> before, Dictionary<string, int[]> after)
    {
        Assert.Equal(before.Keys, after.Keys);
        foreach (var key in before.Keys) Assert.True(before[key].SequenceEqual(after[key]), $"{key} changed");
    }

    /// <summary>Indices of the filters whose weight slice and bias entry are all zero.</summary>
    public static int[] ZeroFilters(Tensor weight, Tensor? bias)
    {
        using var _ = NewDisposeScope();
        var rows = weight.detach().reshape(weight.shape[0], -1);
        return Enumerable.Range(0, (int)weight.shape[0])
            .Where(i => rows[i].abs().sum().item<float>() == 0 && (bias is null || bias[i].item<float>() == 0))
            .ToArray();
    }
}

/// <summary>A validation function returning scripted metrics in call order (the first is the baseline).</summary>
internal sealed class ScriptedMetric(params double[] values)
{
    private int _next;
    public int Calls => _next;
    public double Next(nn.Module<Tensor, Tensor> _) =>
        _next < values.Length ? values[_next++] : throw new InvalidOperationException("script exhausted");
}
