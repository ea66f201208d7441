using System.Text.Json;
using TorchSharp;
using Trainer.Core.Pruning.TorchPrune;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Pruning.TorchPrune;

/// <summary>
/// Reads reference/prune_fixtures.json (written by reference/make_prune_fixtures.py with PyTorch 1.13) and replays its
/// pruning steps through <see cref="Prune"/>.
/// </summary>
internal static class PruneFixtures
{
    public static readonly JsonElement Root = JsonDocument.Parse(
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Pruning", "TorchPrune", "reference", "prune_fixtures.json"))).RootElement;

    public static JsonElement Case(string name) =>
        Root.GetProperty("cases").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

    public static IEnumerable<object[]> CaseNames() =>
        Root.GetProperty("cases").EnumerateArray().Select(c => new object[] { c.GetProperty("name").GetString()! });

    public static float[] Floats(JsonElement array) => array.EnumerateArray().Select(v => v.GetSingle()).ToArray();

    public static long[] Longs(JsonElement array) => array.EnumerateArray().Select(v => v.GetInt64()).ToArray();

    public static float[] Values(Tensor t) => t.detach().contiguous().reshape(-1).to(ScalarType.Float32).data<float>().ToArray();

    /// <summary>A Linear or Conv2d with the fixture's weight (the bias plays no part in the masks).</summary>
    public static nn.Module<Tensor, Tensor> Module(JsonElement spec)
    {
        var shape = Longs(spec.GetProperty("shape"));
        nn.Module<Tensor, Tensor> module = spec.GetProperty("type").GetString() == "linear"
            ? nn.Linear(shape[1], shape[0])
            : nn.Conv2d(shape[1], shape[0], (shape[2], shape[3]));
        using var noGrad = torch.no_grad();
        module.get_parameter("weight")!.copy_(torch.tensor(Floats(spec.GetProperty("weight"))).reshape(shape));
        return module;
    }

    public static PruningAmount Amount(JsonElement step)
    {
        var amount = step.GetProperty("amount");
        return amount.TryGetProperty("count", out var count)
            ? PruningAmount.Count(count.GetInt64())
            : PruningAmount.Fraction(amount.GetProperty("fraction").GetDouble());
    }

    public static double Norm(JsonElement n) => n.ValueKind == JsonValueKind.String
        ? n.GetString() == "inf" ? double.PositiveInfinity : double.NegativeInfinity
        : n.GetDouble();

    /// <summary>Applies one fixture step to <paramref name="modules"/> as the script applied it in PyTorch.</summary>
    public static void Apply(JsonElement step, IReadOnlyList<nn.Module<Tensor, Tensor>> modules)
    {
        if (step.TryGetProperty("seed", out var seed)) torch.manual_seed(seed.GetInt64());
        var op = step.GetProperty("op").GetString();
        if (op == "global_unstructured")
        {
            var targets = step.GetProperty("targets").EnumerateArray().Select(i => ((nn.Module)modules[i.GetInt32()], "weight")).ToList();
            Dictionary<(nn.Module, string), Tensor>? scores = null;
            if (step.TryGetProperty("importance", out var imp))
                scores = imp.EnumerateObject().ToDictionary(
                    p => ((nn.Module)modules[int.Parse(p.Name)], "weight"),
                    p => torch.tensor(Floats(p.Value)).reshape(Prune.TensorOf(modules[int.Parse(p.Name)], "weight").shape));
            PruningMethod method = step.GetProperty("method").GetString() == "l1"
                ? new L1Unstructured(Amount(step)) : new RandomUnstructured(Amount(step));
            Prune.GlobalUnstructured(targets, method, scores);
            return;
        }
        var module = modules[step.GetProperty("target").GetInt32()];
        var weightShape = Prune.TensorOf(module, "weight").shape;
        Tensor? importance = step.TryGetProperty("importance", out var i) ? torch.tensor(Floats(i)).reshape(weightShape) : null;
        switch (op)
        {
            case "l1_unstructured": Prune.L1Unstructured(module, "weight", Amount(step), importance); break;
            case "random_unstructured": Prune.RandomUnstructured(module, "weight", Amount(step)); break;
            case "ln_structured":
                Prune.LnStructured(module, "weight", Amount(step), Norm(step.GetProperty("n")), step.GetProperty("dim").GetInt64(), importance);
                break;
            case "random_structured": Prune.RandomStructured(module, "weight", Amount(step), step.GetProperty("dim").GetInt64()); break;
            case "custom_from_mask":
                Prune.CustomFromMask(module, "weight", torch.tensor(Floats(step.GetProperty("mask"))).reshape(weightShape));
                break;
            case "identity": Prune.Identity(module, "weight"); break;
            default: throw new InvalidOperationException($"Unknown fixture op '{op}'.");
        }
    }
}
