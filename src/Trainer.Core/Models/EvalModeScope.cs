using TorchSharp;

namespace Trainer.Core.Models;

/// <summary>
/// Puts a model in eval mode and, on dispose, gives every module back the training flag it had
/// (models may mix modes, e.g. frozen BatchNorm inside a training model).
/// </summary>
public sealed class EvalModeScope : IDisposable
{
    private readonly List<(torch.nn.Module Module, bool Training)> saved;

    /// <summary>Saves all flags and switches <paramref name="model"/> to eval.</summary>
    public EvalModeScope(torch.nn.Module model)
    {
        saved = [(model, model.training)];
        foreach (var (_, m) in model.named_modules()) saved.Add((m, m.training));
        model.eval();
    }

    /// <summary>Restores the flags, parents before children.</summary>
    public void Dispose()
    {
        // named_modules lists a module before its descendants, and train() recurses, so
        // setting in this order leaves each module with its own saved flag.
        foreach (var (m, training) in saved) m.train(training);
    }
}
