using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Models;

/// <summary>
/// The tabular task's own model: a multi-layer perceptron (Linear-ReLU per hidden layer, then a Linear to the outputs)
/// over raw feature rows. It standardises its inputs with the training set's per-feature mean and deviation, and a
/// regression model maps its output back to the target's units (<c>y = out · std + mean</c>), so the network itself works in
/// standard units while the exported model reads raw rows and predicts in the data's own units. The statistics are
/// buffers: they travel with checkpoints and exports.
/// </summary>
public sealed class TabularMlp : nn.Module<Tensor, Tensor>
{
    private readonly Sequential body;
    private readonly Tensor feature_mean, feature_std, target_mean, target_std;

    /// <summary>Creates the network with PyTorch's default initialisation.</summary>
    /// <param name="hidden">Width of each hidden layer, input side first.</param>
    /// <param name="outputs">1 for regression, the class count for classification.</param>
    /// <param name="featureMean">Training mean of each feature.</param>
    /// <param name="featureStd">Training deviation of each feature (above 0).</param>
    /// <param name="targetMean">Training mean of the target (regression; 0 for classification).</param>
    /// <param name="targetStd">Training deviation of the target (regression; 1 for classification).</param>
    public TabularMlp(IReadOnlyList<int> hidden, int outputs, float[] featureMean, float[] featureStd, float targetMean = 0, float targetStd = 1)
        : base(nameof(TabularMlp))
    {
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentOutOfRangeException.ThrowIfLessThan(outputs, 1);
        if (featureMean.Length == 0 || featureMean.Length != featureStd.Length)
            throw new ArgumentException($"One mean and one deviation per feature: got {featureMean.Length} and {featureStd.Length}.");
        Features = featureMean.Length;
        Outputs = outputs;
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        var width = Features;
        for (var i = 0; i < hidden.Count; i++)
        {
            layers.Add(($"fc{i + 1}", nn.Linear(width, hidden[i])));
            layers.Add(($"relu{i + 1}", nn.ReLU()));
            width = hidden[i];
        }
        layers.Add(("out", nn.Linear(width, outputs)));
        body = nn.Sequential(layers);
        // Buffers live as long as the module, whatever dispose scope it was made in.
        feature_mean = tensor(featureMean).DetachFromDisposeScope();
        feature_std = tensor(featureStd).DetachFromDisposeScope();
        target_mean = tensor(targetMean).DetachFromDisposeScope();
        target_std = tensor(targetStd).DetachFromDisposeScope();
        RegisterComponents();
    }

    /// <summary>Number of input features.</summary>
    public int Features { get; }

    /// <summary>Number of outputs.</summary>
    public int Outputs { get; }

    /// <summary>Rows <c>[B, F]</c> → outputs <c>[B, outputs]</c> (regression: in the target's units).</summary>
    public override Tensor forward(Tensor input)
    {
        using var standard = (input - feature_mean) / feature_std;
        var output = body.call(standard);
        if (Outputs != 1) return output;
        using (output) return output * target_std + target_mean;
    }
}
