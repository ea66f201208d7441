using System.Collections;
using Razorvine.Pickle;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Trainer.Core.Models;

/// <summary>
/// Loads a state_dict that PyTorch's <c>torch.save(model.state_dict(), file)</c> wrote into a module with the same parameter
/// and buffer names (the catalog's TorchVision models use PyTorch's names), so a model trained in PyTorch can be compressed
/// here. The file is read with TorchSharp.PyBridge and compared with the module's state_dict before anything is copied:
/// every missing, extra or misshaped tensor is listed in one <see cref="InvalidDataException"/>, with both shapes.
/// </summary>
/// <remarks>
/// TorchSharp's BatchNorm keeps PyTorch's <c>num_batches_tracked</c> counter, so it is loaded like the running statistics. A file
/// without it still loads (PyTorch before 0.4.1 did not save it; PyTorch itself keeps the module's counter then): only
/// momentum-free (cumulative-average) BatchNorm training reads it.
/// </remarks>
public static class PyTorchWeights
{
    private const string BatchCounter = ".num_batches_tracked";
    private const int ListedPerKind = 6;

    /// <summary>
    /// Copies the tensors of the state_dict in <paramref name="path"/> into <paramref name="module"/>'s parameters and buffers
    /// (without gradient tracking; the parameters keep their <c>requires_grad</c>) and returns how many were copied. Throws
    /// <see cref="InvalidDataException"/> naming the file, before changing anything, when it cannot be read as a state_dict
    /// or does not fit the module.
    /// </summary>
    /// <param name="path">A file written by <c>torch.save</c> (PyTorch 1.6 or later: the zip format).</param>
    /// <param name="module">The module to load into; its state_dict names must be the file's.</param>
    public static int Load(string path, nn.Module module)
    {
        using var scope = NewDisposeScope();   // the file's tensors; the module's own are older than the scope
        var file = Read(path);
        var target = module.state_dict();
        if (Mismatch(file, target) is { } problems)
            throw new InvalidDataException($"PyTorch state_dict '{path}' does not fit the model: {problems}. Save the state_dict of the " +
                                           "same architecture, with the same parameter names (print model.state_dict().keys() in PyTorch).");
        var copied = 0;
        using (no_grad())
        {
            foreach (var (name, tensor) in target)
            {
                if (!file.TryGetValue(name, out var source)) continue;   // a num_batches_tracked the file lacks
                tensor.copy_(source);
                copied++;
            }
        }
        return copied;
    }

    /// <summary>
    /// The tensors of the state_dict in <paramref name="path"/> by name, on the CPU. Throws <see cref="InvalidDataException"/>
    /// naming the file when it is missing, unreadable, damaged, in PyTorch's pre-1.6 format, or holds something other than a
    /// state_dict (a whole pickled model, a bare tensor, a checkpoint dictionary holding a state_dict). The caller owns the
    /// tensors: dispose them, or call this inside a dispose scope.
    /// </summary>
    /// <param name="path">A file written by <c>torch.save</c>.</param>
    public static Dictionary<string, Tensor> Read(string path)
    {
        var bytes = IO.FileBytes.Read(path, "PyTorch state_dict", message => new InvalidDataException(message));
        Hashtable table;
        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            table = PyTorchUnpickler.UnpickleStateDict(stream, leaveOpen: true);
        }
        catch (NotImplementedException e)
        {
            // PyBridge's words for a legacy (pre-zip) file and for a whole pickled model; both say what to re-save.
            throw new InvalidDataException($"PyTorch state_dict '{path}' cannot be loaded: {e.Message}");
        }
        catch (InvalidCastException)
        {
            throw new InvalidDataException($"PyTorch state_dict '{path}' holds a single object that is not a dictionary (a bare tensor?); " +
                                           "save the model's weights with torch.save(model.state_dict(), file).");
        }
        catch (Exception e) when (e is InvalidDataException or PickleException or InvalidOperationException or EndOfStreamException
                                      or IOException or ArgumentException or KeyNotFoundException or IndexOutOfRangeException
                                      or System.Runtime.InteropServices.ExternalException)
        {
            throw new InvalidDataException($"'{path}' is not a state_dict written by torch.save, or it is damaged or truncated ({e.Message}).");
        }
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var others = new List<string>();
        foreach (DictionaryEntry entry in table)
        {
            if (entry.Key is string name && entry.Value is Tensor tensor) tensors[name] = tensor;
            else others.Add($"{entry.Key} ({entry.Value?.GetType().Name ?? "None"})");
        }
        if (others.Count > 0)
            throw new InvalidDataException($"PyTorch state_dict '{path}' is a dictionary with entries that are not tensors: " +
                                           $"{string.Join(", ", others.Order().Take(ListedPerKind))}{More(others.Count)}; a training checkpoint? " +
                                           "Save the model's state_dict itself: torch.save(model.state_dict(), file).");
        if (tensors.Count == 0)
            throw new InvalidDataException($"PyTorch state_dict '{path}' holds no tensors.");
        return tensors;
    }

    /// <summary>
    /// Every way <paramref name="file"/> does not fit <paramref name="target"/> (names missing from the file, names the model
    /// lacks, shapes that differ, each with its shape on both sides), or null when it fits.
    /// </summary>
    /// <param name="file">The state_dict read from the file.</param>
    /// <param name="target">The module's state_dict.</param>
    public static string? Mismatch(IReadOnlyDictionary<string, Tensor> file, IReadOnlyDictionary<string, Tensor> target)
    {
        var missing = target.Keys.Where(name => !file.ContainsKey(name) && !name.EndsWith(BatchCounter, StringComparison.Ordinal))
            .Select(name => $"{name} (model {Shape(target[name])})").ToList();
        var extra = file.Keys.Where(name => !target.ContainsKey(name))
            .Order(StringComparer.Ordinal).Select(name => $"{name} (file {Shape(file[name])})").ToList();
        var misshaped = target.Keys.Where(name => file.TryGetValue(name, out var source) && !source.shape.SequenceEqual(target[name].shape))
            .Select(name => $"{name} is {Shape(file[name])} in the file but {Shape(target[name])} in the model").ToList();
        var parts = new List<string>();
        if (missing.Count > 0) parts.Add($"missing from the file: {List(missing)}");
        if (extra.Count > 0) parts.Add($"not in the model: {List(extra)}");
        if (misshaped.Count > 0) parts.Add($"shapes differ: {List(misshaped)}");
        return parts.Count == 0 ? null : string.Join("; ", parts);
    }

    private static string Shape(Tensor t) => $"[{string.Join(",", t.shape)}]";

    private static string List(List<string> items) => string.Join(", ", items.Take(ListedPerKind)) + More(items.Count);

    private static string More(int count) => count > ListedPerKind ? $" and {count - ListedPerKind} more" : "";
}
