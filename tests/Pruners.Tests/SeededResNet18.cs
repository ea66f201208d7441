using System.Security.Cryptography;
using System.Text.Json;
using TorchSharp;
using TorchSharp.PyBridge;
using Trainer.Core.Models;
using static TorchSharp.torch;

namespace Pruners.Tests;

/// <summary>
/// The resnet18 of reference/nni_masks.py: TorchVision's resnet18 with PyTorch's default initialisation drawn after
/// torch.manual_seed(seed) in the script's order (Conv2d/Linear reset_parameters, BatchNorm weight U(0.5, 1.5) and bias
/// U(−0.2, 0.2)). TorchSharp draws the same uniform numbers as PyTorch 1.13 on the CPU; the weights are written as a
/// PyTorch state_dict and read back through <see cref="PyTorchWeights"/>, as Model:PyTorchWeights does, and the test checks
/// each parameter's SHA-256 against the script's before comparing masks.
/// </summary>
internal static class SeededResNet18
{
    public static nn.Module<Tensor, Tensor> Load(JsonElement fixture)
    {
        var file = Path.Combine(Path.GetTempPath(), $"pruners-resnet18-{Guid.NewGuid():N}.pt");
        try
        {
            using (var drawn = torchvision.models.resnet18())
            {
                Draw(drawn, fixture.GetProperty("seed").GetInt32(),
                    fixture.GetProperty("draw_order").EnumerateArray().Select(e => e.GetString()!).ToList());
                drawn.save_py(file);
            }
            var model = torchvision.models.resnet18();
            PyTorchWeights.Load(file, model);
            model.eval();
            return model;
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>SHA-256 (first 16 hex digits) of each parameter's little-endian float32 bytes, as the script writes it.</summary>
    public static Dictionary<string, string> Fingerprint(nn.Module model) =>
        model.named_parameters().ToDictionary(p => p.name, p =>
            Convert.ToHexStringLower(SHA256.HashData(p.parameter.detach().contiguous().bytes.ToArray()))[..16]);

    private static void Draw(nn.Module model, int seed, IReadOnlyList<string> order)
    {
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        torch.manual_seed(seed);
        using var _ = no_grad();
        foreach (var name in order)
        {
            switch (modules[name])
            {
                case TorchSharp.Modules.Conv2d conv:
                    ResetParameters(conv.weight!, conv.bias);
                    break;
                case TorchSharp.Modules.Linear linear:
                    ResetParameters(linear.weight!, linear.bias);
                    break;
                case TorchSharp.Modules.BatchNorm2d bn:
                    bn.weight!.uniform_(0.5, 1.5);
                    bn.bias!.uniform_(-0.2, 0.2);
                    break;
                default:
                    throw new InvalidOperationException($"{name} is not drawn by the script");
            }
        }
    }

    // PyTorch 1.13's Conv2d/Linear.reset_parameters: kaiming_uniform_(w, a=sqrt(5)), then the bias from U(±1/sqrt(fan_in)),
    // the bounds computed in double exactly as torch.nn.init does.
    private static void ResetParameters(Tensor weight, Tensor? bias)
    {
        var fanIn = weight.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
        var a = Math.Sqrt(5);
        var gain = Math.Sqrt(2.0 / (1 + Math.Pow(a, 2)));
        var std = gain / Math.Sqrt(fanIn);
        var bound = Math.Sqrt(3.0) * std;
        weight.uniform_(-bound, bound);
        if (bias is null) return;
        var biasBound = fanIn > 0 ? 1 / Math.Sqrt(fanIn) : 0;
        bias.uniform_(-biasBound, biasBound);
    }
}
